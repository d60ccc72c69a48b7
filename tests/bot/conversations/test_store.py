"""Conversations and messages over a real SQLite file: a resent message is stored once, the
transcript reads in order, and replies hang off the message they answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.conversations.models import Message
from bot.conversations.store import ConversationNotFoundError, ConversationStore


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
