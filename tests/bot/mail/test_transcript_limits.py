"""How many transcripts go out ("Email me this conversation"): 3 an hour per conversation and
5 a day to one mailbox from any conversation, counted and queued under locks so that requests
at the same moment (two workers) count one after the other."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.models import Conversation
from bot.conversations.store import ConversationStore
from bot.mail.models import OutboundMail
from bot.mail.outbox import (
    TRANSCRIPT_ADDRESS_WINDOW,
    TRANSCRIPTS_PER_ADDRESS,
    Outbox,
    TranscriptThrottledError,
)
from bot.settings import Settings
from db.base import utcnow
from db.engine import create_engine_for, session_factory

OUTBOX = Outbox.from_settings(
    Settings(
        smtp_url="smtp://127.0.0.1:2525",
        mail_from="support@shop.test",
        secret_key="k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5",
    )
)


def opened(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        conversation = ConversationStore(session).open("en")
        session.commit()
        return conversation.id


def ask(
    sessions: sessionmaker[Session], email: str, now: datetime | None = None, cid: str = ""
) -> OutboundMail:
    """A transcript of a new conversation (or of ``cid``) to ``email``, committed."""
    with sessions() as session:
        conversation = session.get(Conversation, cid or opened(sessions))
        assert conversation is not None
        mail = OUTBOX.transcript(session, conversation, email, now or utcnow())
        assert mail is not None
        session.commit()
        return mail


def refusal(sessions: sessionmaker[Session], email: str, now: datetime | None = None) -> str:
    with pytest.raises(TranscriptThrottledError) as refused:
        ask(sessions, email, now)
    return refused.value.limit


def queued(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count(OutboundMail.id))) or 0


def test_an_address_gets_five_a_day_whichever_conversations_ask(
    sessions: sessionmaker[Session],
) -> None:
    for _ in range(TRANSCRIPTS_PER_ADDRESS):
        ask(sessions, "jane@example.com")  # each from a conversation of its own
    assert refusal(sessions, "jane@example.com") == "address"
    with pytest.raises(TranscriptThrottledError) as refused:
        ask(sessions, "jane@example.com")
    assert str(refused.value) == "at most 5 transcripts a day to one address; try again later"
    window = TRANSCRIPT_ADDRESS_WINDOW.total_seconds()
    assert window - 60 < refused.value.retry_after.total_seconds() <= window
    ask(sessions, "joe@example.com")  # another address is not held back
    # A day after the first, one more may go.
    assert ask(sessions, "jane@example.com", utcnow() + TRANSCRIPT_ADDRESS_WINDOW)
    assert queued(sessions) == TRANSCRIPTS_PER_ADDRESS + 2


def test_plus_tags_are_the_same_mailbox_and_like_wildcards_are_letters(
    sessions: sessionmaker[Session],
) -> None:
    for address in ("ja_e@example.com", "ja_e+a@example.com", "ja_e+b@example.com"):
        ask(sessions, address)
    ask(sessions, "ja_e+c+d@example.com")
    ask(sessions, "ja_e@example.com")
    assert refusal(sessions, "ja_e+new@example.com") == "address"
    assert refusal(sessions, "ja_e@example.com") == "address"
    # "_" and "%" are not wildcards: these are other mailboxes.
    for address in (
        "jane@example.com",
        "jaxe+a@example.com",
        "ja_e@example.org",
        "ja%e@example.com",
    ):
        ask(sessions, address)


def test_a_conversation_is_refused_by_its_own_limit_first(sessions: sessionmaker[Session]) -> None:
    cid = opened(sessions)
    for _ in range(3):
        ask(sessions, "jane@example.com", cid=cid)
    with pytest.raises(TranscriptThrottledError) as refused:
        ask(sessions, "joe@example.com", cid=cid)
    assert (refused.value.limit, refused.value.retry_after) == ("conversation", timedelta(hours=1))


def test_two_requests_at_once_count_one_after_the_other(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    """Two workers asked for the last transcript the address may get, from two conversations:
    the second waits for the first to commit, then counts it and is refused. Counting without
    the locks, both saw four and both were queued."""
    for _ in range(TRANSCRIPTS_PER_ADDRESS - 1):
        ask(sessions, "jane@example.com")
    first_id, second_id = opened(sessions), opened(sessions)
    other_worker = create_engine_for(database_url)
    outcome: list[str] = []

    def second() -> None:
        try:
            ask(session_factory(other_worker), "jane@example.com", cid=second_id)
            outcome.append("queued")
        except TranscriptThrottledError as error:
            outcome.append(error.limit)

    try:
        with sessions() as session:
            conversation = session.get(Conversation, first_id)
            assert conversation is not None
            assert OUTBOX.transcript(session, conversation, "jane@example.com", utcnow())
            asking = threading.Thread(target=second)
            asking.start()
            asking.join(timeout=1.0)  # it counts meanwhile, or waits for this one
            assert asking.is_alive(), "the second request did not wait for the first"
            session.commit()
        asking.join(timeout=30)
    finally:
        other_worker.dispose()
    assert outcome == ["address"]
    assert queued(sessions) == TRANSCRIPTS_PER_ADDRESS
