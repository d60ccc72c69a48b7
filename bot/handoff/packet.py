"""The handoff packet: what the customer asked and what the bot tried, for the agent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.conversations.models import ArticleFeedback, KbLookup, Message

SUMMARY_MAX_CHARS = 200
# Intents under which a customer message is a question for the knowledge base.
QUESTION_INTENTS = {"ask_question", "nlu_fallback"}
OFFERED_BY_BAND = {"answer": 1, "clarify": 3, "none": 0}
MAX_PACKET_INTENTS = 200  # as many as a handoff request may carry (HandoffCreate.intents)


def customer_messages(transcript: Sequence[Message]) -> list[Message]:
    """What the customer typed (button presses are the bot's words, not the customer's)."""
    return [
        m
        for m in transcript
        if m.sender == "customer" and not (m.payload or {}).get("button_payload")
    ]


def summarise(typed: Sequence[Message], intents: Sequence[dict[str, Any]]) -> str:
    """The customer's main question, extracted: the longest message the bot took for a
    question, else the longest message; one or two lines."""
    if not typed:
        return ""
    questions = {i.get("text") for i in intents if i.get("intent") in QUESTION_INTENTS}
    candidates = [m for m in typed if m.text in questions] or list(typed)
    main = max(candidates, key=lambda m: len(m.text)).text.strip()
    if len(main) > SUMMARY_MAX_CHARS:
        main = main[: SUMMARY_MAX_CHARS - 1].rstrip() + "…"
    return main


def articles_tried(
    lookups: Sequence[KbLookup],
    feedback: Sequence[ArticleFeedback],
    title_of: Callable[[str], str | None],
) -> list[dict[str, Any]]:
    """Every article the bot offered, with its score, version and the feedback on it."""
    verdicts = {(f.lookup_id, f.article_id): f.helpful for f in feedback}
    tried = []
    for lookup in lookups:
        for hit in lookup.hits[: OFFERED_BY_BAND.get(lookup.band, 0)]:
            helpful = verdicts.get((lookup.id, hit["article_id"]))
            tried.append(
                {
                    "article_id": hit["article_id"],
                    "title": title_of(hit["article_id"]) or hit["article_id"],
                    "version": hit.get("version"),
                    "score": hit.get("score"),
                    "band": lookup.band,
                    "question": lookup.question,
                    "feedback": None
                    if helpful is None
                    else ("helpful" if helpful else "not_helpful"),
                }
            )
    return tried


def intent_seen(seen: dict[str, Any]) -> dict[str, Any]:
    """A customer message and the intent Rasa read in it, as the packet keeps it."""
    return {
        "text": str(seen.get("text", ""))[:500],
        "intent": str(seen.get("intent", "")),
        "confidence": round(float(seen.get("confidence") or 0.0), 3),
    }


def build_packet(
    *,
    reason: str,
    language: str,
    transcript: Sequence[Message],
    intents: Sequence[dict[str, Any]],
    sentiments: Sequence[float],
    lookups: Sequence[KbLookup],
    feedback: Sequence[ArticleFeedback],
    title_of: Callable[[str], str | None],
    customer_name: str | None,
    customer_email: str | None,
) -> dict[str, Any]:
    typed = customer_messages(transcript)
    return {
        "reason": reason,
        "language": language,
        "summary": summarise(typed, intents),
        "customer": {"name": customer_name, "email": customer_email},
        "intents": [intent_seen(i) for i in intents],
        "sentiment": [
            {"message_id": m.id, "text": m.text[:500], "score": round(s, 3)}
            for m, s in zip(typed, sentiments, strict=True)
        ],
        "lookups": [
            {"question": lk.question, "band": lk.band, "at": lk.created_at.isoformat()}
            for lk in lookups
        ],
        "articles": articles_tried(lookups, feedback, title_of),
    }


def packet_intents(packet: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The intents a stored packet holds (text, intent, confidence), read defensively: a packet
    stored by an older version, or without intents, gives an empty list."""
    found = (packet or {}).get("intents")
    if not isinstance(found, list):
        return []
    return [intent_seen(i) for i in found[:MAX_PACKET_INTENTS] if isinstance(i, dict)]
