"""Conversations and messages over a real SQLite file: a resent message is stored once, the
transcript reads in order, and replies hang off the message they answer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.models import Message
from bot.conversations.store import (
    MAX_SILENT_ANSWERS,
    ConversationNotFoundError,
    ConversationStore,
    StoredAnswer,
)
from db.engine import lock_rows


@pytest.fixture
def store(sessions: sessionmaker[Session]) -> Iterator[ConversationStore]:
    with sessions() as session:
        yield ConversationStore(session)


def test_a_new_conversation_is_the_bots_in_the_language_given(store: ConversationStore) -> None:
    chinese, unknown = store.open("zh"), store.open()
    assert chinese.id != unknown.id
    assert (chinese.language, chinese.handled_by) == ("zh", "bot")
    assert unknown.language is None
    assert store.transcript(chinese.id) == []


def test_messages_survive_the_session(
    store: ConversationStore, sessions: sessionmaker[Session]
) -> None:
    cid = store.open().id
    store.add_customer_message(cid, "where is my parcel?", "m-1")
    with sessions() as other:
        assert [m.text for m in ConversationStore(other).transcript(cid)] == ["where is my parcel?"]


def test_a_resent_client_message_id_returns_the_first_message(store: ConversationStore) -> None:
    cid = store.open().id
    first, created = store.add_customer_message(cid, "where is my parcel?", "m-1")
    again, created_again = store.add_customer_message(cid, "where is my parcel?", "m-1")
    assert created and not created_again
    assert again.id == first.id
    assert [m.id for m in store.transcript(cid)] == [first.id]


def test_messages_without_an_id_are_all_stored(store: ConversationStore) -> None:
    cid = store.open().id
    store.add_customer_message(cid, "hello", None)
    _, created = store.add_customer_message(cid, "hello", None)
    assert created
    assert [m.text for m in store.transcript(cid)] == ["hello", "hello"]


def test_the_same_id_in_two_conversations_is_two_messages(store: ConversationStore) -> None:
    one, two = store.open().id, store.open().id
    first, _ = store.add_customer_message(one, "hi", "m-1")
    second, created = store.add_customer_message(two, "hi", "m-1")
    assert created and second.id != first.id


def test_the_same_id_arriving_twice_at_once_is_stored_once(
    store: ConversationStore, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = store.open().id
    # The other request stores the message between this one's check and its insert.
    with sessions() as other:
        winner, _ = ConversationStore(other).add_customer_message(cid, "hi", "m-1")
    real_find = store.find_customer_message
    checks: list[str] = []

    def find_too_early(conversation_id: str, client_message_id: str) -> Message | None:
        checks.append(client_message_id)
        return None if len(checks) == 1 else real_find(conversation_id, client_message_id)

    monkeypatch.setattr(store, "find_customer_message", find_too_early)
    message, created = store.add_customer_message(cid, "hi", "m-1")
    assert not created and message.id == winner.id
    assert [m.id for m in store.transcript(cid)] == [winner.id]


def test_a_buttons_payload_is_kept_with_the_text_shown(store: ConversationStore) -> None:
    cid = store.open().id
    message, _ = store.add_customer_message(
        cid, "Yes, thanks", "m-1", '/feedback_helpful{"article_id":"returns"}'
    )
    assert message.text == "Yes, thanks"
    assert message.payload == {"button_payload": '/feedback_helpful{"article_id":"returns"}'}
    typed, _ = store.add_customer_message(cid, "thanks", "m-2")
    assert typed.payload == {}


def test_a_customer_message_moves_the_conversation_forward(store: ConversationStore) -> None:
    conversation = store.open()
    opened_at = conversation.updated_at
    store.add_customer_message(conversation.id, "hi", None)
    assert store.get(conversation.id).updated_at > opened_at


def test_the_transcript_is_in_order_and_after_an_id_only_the_later_ones(
    store: ConversationStore,
) -> None:
    cid = store.open().id
    question, _ = store.add_customer_message(cid, "q", None)
    answer = store.add_reply(cid, question.id, "bot", "a", {})
    later, _ = store.add_customer_message(cid, "thanks", None)
    store.add_message(cid, "system", "joined", {"kind": "agent_joined"})

    assert [m.text for m in store.transcript(cid)] == ["q", "a", "thanks", "joined"]
    assert [m.text for m in store.transcript(cid, after=answer.id)] == ["thanks", "joined"]
    assert [m.sender for m in store.transcript(cid, after=later.id)] == ["system"]
    assert store.transcript(cid, after=later.id + 1) == []


def test_the_transcript_holds_only_its_own_conversation(store: ConversationStore) -> None:
    one, two = store.open().id, store.open().id
    store.add_customer_message(one, "mine", None)
    store.add_customer_message(two, "theirs", None)
    assert [m.text for m in store.transcript(one)] == ["mine"]


def test_replies_to_are_the_answers_to_one_message_in_order(store: ConversationStore) -> None:
    cid = store.open().id
    first, _ = store.add_customer_message(cid, "q1", None)
    second, _ = store.add_customer_message(cid, "q2", None)
    store.add_reply(cid, first.id, "bot", "a1", {"buttons": [{"title": "Yes", "payload": "/y"}]})
    store.add_reply(cid, second.id, "bot", "a2", {})
    store.add_reply(cid, first.id, "system", "rate us", {"kind": "csat_request"})

    replies = store.replies_to(first.id)
    assert [(m.sender, m.text) for m in replies] == [("bot", "a1"), ("system", "rate us")]
    assert replies[0].payload == {"buttons": [{"title": "Yes", "payload": "/y"}]}
    assert store.replies_to(replies[0].id) == []


def test_the_last_system_message_and_kinds(store: ConversationStore) -> None:
    cid = store.open().id
    assert store.last_system_message(cid) is None
    store.add_message(cid, "system", "first", {"kind": "queue_position"})
    store.add_message(cid, "system", "second", {"kind": "agent_joined"})
    store.add_message(cid, "agent", "hi, Alice here", {"agent_name": "Alice"})
    last = store.last_system_message(cid)
    assert last is not None and last.text == "second"
    assert store.has_message_of_kind(cid, "agent_joined")
    assert not store.has_message_of_kind(cid, "csat_request")


def test_an_unknown_conversation_is_not_found(store: ConversationStore) -> None:
    with pytest.raises(ConversationNotFoundError) as error:
        store.get("nope")
    assert str(error.value) == "conversation 'nope' not found"
    with pytest.raises(ConversationNotFoundError):
        store.add_customer_message("nope", "hi", "m-1")
    with pytest.raises(ConversationNotFoundError):
        store.transcript("nope")


# -- the bot's answer: settled and stored in one commit, only while the message is owed -------

UNSTORABLE = {"articles": [{"title": object()}]}  # not JSON: its INSERT fails


def owed_ids(sessions: sessionmaker[Session], cid: str) -> list[int]:
    with sessions() as session:
        return [m.id for m in ConversationStore(session).owed_answers(cid)]


def test_an_answer_is_stored_with_the_message_settled(
    store: ConversationStore, sessions: sessionmaker[Session]
) -> None:
    cid = store.open().id
    question, _ = store.add_customer_message(cid, "q", None)
    answer = store.store_answer(cid, question.id, [("a1", {}), ("a2", {"buttons": []})])
    assert answer.stored
    assert [(m.sender, m.text, m.reply_to) for m in answer.replies] == [
        ("bot", "a1", question.id),
        ("bot", "a2", question.id),
    ]
    assert owed_ids(sessions, cid) == []
    with sessions() as other:
        assert [m.text for m in ConversationStore(other).replies_to(question.id)] == ["a1", "a2"]


def test_an_answer_that_fails_half_way_leaves_the_message_owed_and_unanswered(
    store: ConversationStore, sessions: sessionmaker[Session]
) -> None:
    """The second reply cannot be written (as if the connection dropped there): nothing of the
    answer is kept, and the message is still owed, so the redelivery answers it."""
    cid = store.open().id
    question, _ = store.add_customer_message(cid, "q", None)
    with pytest.raises((StatementError, TypeError)):  # TypeError: psycopg's own JSON dump
        store.store_answer(cid, question.id, [("a1", {}), ("a2", UNSTORABLE)])
    store.session.rollback()
    assert owed_ids(sessions, cid) == [question.id]
    with sessions() as other:
        assert ConversationStore(other).replies_to(question.id) == []


def test_a_message_answered_meanwhile_keeps_its_first_answer(
    store: ConversationStore, sessions: sessionmaker[Session]
) -> None:
    """Two holders of the conversation (its lock lapsed): the second answer stores nothing and
    gets the first one's replies."""
    cid = store.open().id
    question, _ = store.add_customer_message(cid, "q", None)
    first = store.store_answer(cid, question.id, [("first", {})])
    with sessions() as other:
        second = ConversationStore(other).store_answer(cid, question.id, [("second", {})])
        apology = ConversationStore(other).store_apology(cid, question.id, "sorry", {})
    assert first.stored and not second.stored and not apology.stored
    assert [m.id for m in second.replies] == [m.id for m in first.replies]
    assert [m.id for m in apology.replies] == [m.id for m in first.replies]
    assert [m.text for m in store.transcript(cid)] == ["q", "first"]


def test_an_apology_is_stored_while_the_message_is_owed_or_given_up_silent(
    store: ConversationStore,
) -> None:
    cid = store.open().id
    question, _ = store.add_customer_message(cid, "q", None)
    assert store.store_apology(cid, question.id, "sorry", {}).stored
    for _ in range(MAX_SILENT_ANSWERS):  # Rasa said nothing each time: no longer owed
        store.store_answer(cid, question.id, [])
    assert store.owed_answers(cid) == []
    assert store.store_apology(cid, question.id, "sorry again", {}).stored
    assert [m.text for m in store.replies_to(question.id)] == ["sorry", "sorry again"]


def test_an_answer_waits_for_another_being_stored_then_stores_nothing(
    store: ConversationStore, sessions: sessionmaker[Session]
) -> None:
    """The re-check reads under the message's row lock: an answer stored at the same moment by
    another holder is waited for, then seen (on PostgreSQL a row lock, on SQLite its one
    writer)."""
    cid = store.open().id
    question, _ = store.add_customer_message(cid, "q", None)
    with sessions() as first:
        lock_rows(first, Message.id, [question.id])  # the other holder, half way through
        ConversationStore(first).settle(question.id, answered=True, commit=False)
        ConversationStore(first).add_reply(cid, question.id, "bot", "first", {}, commit=False)
        with ThreadPoolExecutor(1) as pool:
            second = pool.submit(answer_in, sessions, cid, question.id, "second")
            time.sleep(0.3)
            assert not second.done()  # waits for the first holder's transaction
            first.commit()
            stored = second.result(timeout=10)
    assert not stored.stored
    assert [m.text for m in stored.replies] == ["first"]
    assert [m.text for m in store.transcript(cid)] == ["q", "first"]


def answer_in(
    sessions: sessionmaker[Session], cid: str, message_id: int, text: str
) -> StoredAnswer:
    with sessions() as session:
        return ConversationStore(session).store_answer(cid, message_id, [(text, {})])
