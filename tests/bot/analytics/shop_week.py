"""A week of a shop's conversations, 2026-11-10 to 2026-11-16 (UTC), whose KPIs are worked
out by hand in tests/bot/analytics/test_kpis.py; plus one conversation on each side of the
week. Used by the reports' module tests and the reports' API tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bot.auth.store import UserStore
from tests.bot.analytics.seed import conversation

PASSWORD = "correct-horse-battery"


def at(day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


@dataclass(frozen=True)
class ShopWeek:
    lin: int  # agent ids
    bo: int
    ids: dict[str, str]  # letter: conversation id


def seed_shop_week(session: Session) -> ShopWeek:
    users = UserStore(session)
    lin = users.create("lin@shop.test", "Lin", "agent", PASSWORD).id
    bo = users.create("bo@shop.test", "Bo", "agent", PASSWORD).id
    ids = {}

    def new(letter: str, started: datetime, **kw: str):  # type: ignore[no-untyped-def]
        seeded = conversation(session, started, **kw)
        ids[letter] = seeded.id
        return seeded

    # A contained: answered, helpful, rated 5 (bot). Reply 1.5 s.
    (
        new("A", at(10, 9))
        .customer("how do I get a refund?")
        .lookup(
            "answer", "returns-policy", after=0.5, intent="ask_question", intent_confidence=0.87
        )
        .bot(after=1)
        .feedback("returns-policy", True)
        .rating(5)
    )
    # B escalated (requested), Lin: claimed 30 s, first reply 40 s, resolved 100 s; rated 4.
    (
        new("B", at(10, 9, 30))
        .customer("a person please")
        .bot(after=2)
        .handoff(
            "requested",
            lin,
            claimed_after=30,
            first_response_after=40,
            closed_after=100,
            intents=[{"text": "a person please", "intent": "request_human", "confidence": 0.98}],
        )
        .rating(4, "quick and kind", agent_id=lin)
    )
    # C abandoned: nothing found (zh). Reply 3.5 s.
    new("C", at(11, 10), language="zh").customer("怎么退货").lookup("none", after=0.5).bot(after=3)
    # D abandoned: never answered.
    new("D", at(11, 23, 59, 59)).customer("hello?")
    # E rated_poor: answered, rated 2 with a comment that looks like a formula. Reply 4.5 s.
    (
        new("E", at(12, 8))
        .customer("shipping cost?")
        .lookup("answer", "shipping", after=0.5)
        .bot(after=4)
        .rating(2, "=cmd|meh")
    )
    # F abandoned: offered options, the customer left. Reply 2.5 s.
    (
        new("F", at(12, 15))
        .customer("card")
        .lookup("clarify", "gift-card", "card-b", "card-c", after=0.5)
        .bot(after=2)
    )
    # G contained: offered options, the customer picked one. Replies 2.5 s and 1 s.
    (
        new("G", at(13, 11))
        .customer("card")
        .lookup("clarify", "gift-card", "card-b", after=0.5)
        .bot(after=2)
        .customer("Gift card", after=5, button='/ask_question{"article_id": "gift-card"}')
        .bot(after=1)
    )
    # H abandoned: its answer was marked not helpful. Replies 1.5 s and 1.5 s.
    (
        new("H", at(13, 16))
        .customer("late parcel")
        .lookup("answer", "shipping", after=0.5)
        .bot(after=1)
        .customer("No", after=2, button="/feedback_not_helpful")
        .feedback("shipping", False, after=0.5)
        .bot(after=1)
    )
    # I escalated (frustration), Bo: claimed 200 s, first reply 400 s (a breach), still open.
    (
        new("I", at(14, 12))
        .customer("this is terrible")
        .bot(after=2)
        .handoff("frustration", bo, claimed_after=200, first_response_after=400)
    )
    # J: no customer message, not counted.
    new("J", at(14, 13)).bot("welcome", reply=False)
    # K escalated (topic), never claimed: a breach once the target has passed. Reply 1 s.
    new("K", at(15, 7)).customer("chargeback").bot(after=1).handoff("topic")
    # L contained, the week's last second. Reply 1 s.
    new("L", at(16, 23, 59, 59)).customer("hi").bot(after=1)
    # P contained, the week's first second, by email. Reply 1 s.
    new("P", at(10, 0), channel="email").customer("hi").bot(after=1)
    # M: the next week's first second. N: the week before's last second, rated 3.
    new("M", at(17, 0)).customer("hi").bot(after=1)
    new("N", at(9, 23, 59, 59)).customer("hi").bot(after=1).rating(3)
    session.commit()
    return ShopWeek(lin, bo, ids)
