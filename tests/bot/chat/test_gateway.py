"""The chat gateway without HTTP: a customer message is stored, answered by the bot (a fake
Rasa) or left for the agent, and every message is pushed to the conversation's sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.gateway import ChatGateway
from bot.conversations.hub import ConversationHub
from bot.conversations.locks import HeldLock
from bot.conversations.models import Message
from bot.conversations.rasa_client import BotReply, RasaDroppedError, RasaUnavailableError
from bot.conversations.schemas import ExchangePublic, MessageCreate
from bot.conversations.store import (
    MAX_SILENT_ANSWERS,
    ConversationNotFoundError,
    ConversationStore,
)
from bot.conversations.trail import BotTrail
from bot.handoff.desk import HandoffDesk
from bot.handoff.models import Handoff
from bot.handoff.schemas import HandoffCreate
from db.base import utcnow
from tests.bot.conftest import Staff, agent_console, drain, messages_in, open_conversation
from texts import say


class FakeRasa:
    """Answers like RasaClient; records each call and what the conversation held at that moment,
    and keeps a tracker: which message ids it took and what it answered."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.replies: list[BotReply] = [BotReply(text="Hello! How can I help?")]
        self.down = False
        self.silent = False  # takes the message and says nothing (an action failed)
        self.actions_down = False  # what actions_up says: the action server does not answer
        self.calls: list[tuple[str, str]] = []
        self.message_ids: list[int | None] = []
        self.languages: list[str | None] = []
        self.channels: list[str | None] = []
        self.stored_when_called: list[list[str]] = []
        self.tracker: dict[str, list[tuple[int | None, list[BotReply] | None]]] = {}
        self.base_urls = ["http://rasa-1"]
        # The Rasa answering dies with the next message, after saving its turn or before.
        self.dies: str | None = None  # "after taking it" / "before taking it"

    async def send(
        self,
        sender: str,
        text: str,
        language: str | None = None,
        message_id: int | None = None,
        channel: str | None = None,
    ) -> list[BotReply]:
        self.calls.append((sender, text))
        self.channels.append(channel)
        self.message_ids.append(message_id)
        self.languages.append(language)
        with self.sessions() as session:
            transcript = ConversationStore(session).transcript(sender)
            self.stored_when_called.append([m.text for m in transcript])
        if self.down:
            raise RasaUnavailableError("HTTP 503")
        replies = [] if self.silent else list(self.replies)
        dies, self.dies = self.dies, None
        if dies != "before taking it":
            self.tracker.setdefault(sender, []).append((message_id, replies))
        if dies is not None:
            raise RasaDroppedError("RemoteProtocolError('Server disconnected')")
        return replies

    async def replies_given(self, sender: str, message_id: int) -> list[BotReply] | None:
        if self.down:
            raise RasaUnavailableError("HTTP 503")
        taken = [replies for mid, replies in self.tracker.get(sender, []) if mid == message_id]
        return taken[-1] if taken else None

    async def actions_up(self) -> bool:
        return not self.actions_down

    async def aclose(self) -> None:
        pass


@pytest.fixture
def rasa(sessions: sessionmaker[Session]) -> FakeRasa:
    return FakeRasa(sessions)


@pytest.fixture
def gateway(
    sessions: sessionmaker[Session], rasa: FakeRasa, hub: ConversationHub, desk: HandoffDesk
) -> ChatGateway:
    return ChatGateway(sessions, rasa, hub, desk)  # type: ignore[arg-type]


def say_to(gateway: ChatGateway, cid: str, text: str, **fields: str) -> ExchangePublic:
    return asyncio.run(gateway.receive(cid, MessageCreate(text=text, **fields)))


def handed_over(desk: HandoffDesk, hub: ConversationHub, cid: str, language: str = "en") -> int:
    """A live handoff: an agent's console is open, so the conversation goes to the agent at
    once."""
    with agent_console(desk):
        opened = asyncio.run(
            desk.open(HandoffCreate(conversation_id=cid, reason="requested", language=language))
        )
    return opened.handoff_id


# -- the bot answers -------------------------------------------------------------------------


def test_the_message_is_stored_before_the_bot_answers_it(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions)
    exchange = say_to(gateway, cid, "where is my parcel?", client_message_id="m-1")

    assert rasa.calls == [(cid, "where is my parcel?")]
    assert rasa.stored_when_called == [["where is my parcel?"]]
    assert exchange.message.sender == "customer"
    assert exchange.message.client_message_id == "m-1"
    assert [(r.sender, r.text) for r in exchange.replies] == [("bot", "Hello! How can I help?")]
    assert not exchange.duplicate


def test_replies_are_stored_with_their_buttons_and_articles(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    article = {"id": "returns", "title": "Returns", "url": "/articles/returns"}
    buttons = [{"title": "Yes", "payload": '/feedback_helpful{"article_id":"returns"}'}]
    rasa.replies = [
        BotReply(text="Return within 30 days.", articles=[article]),
        BotReply(text="Did this help?", buttons=buttons),
    ]
    cid = open_conversation(sessions)
    exchange = say_to(gateway, cid, "how do I return?")

    transcript = asyncio.run(gateway.transcript(cid))
    assert [(m.sender, m.text) for m in transcript] == [
        ("customer", "how do I return?"),
        ("bot", "Return within 30 days."),
        ("bot", "Did this help?"),
    ]
    assert transcript[1].articles == [article]
    assert transcript[2].buttons == buttons
    assert exchange.replies == transcript[1:]


def test_the_customer_message_typing_and_replies_reach_the_conversations_sockets(
    gateway: ChatGateway, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    cid, other = open_conversation(sessions), open_conversation(sessions)
    with hub.subscribe(cid) as widget, hub.subscribe(other) as elsewhere:
        exchange = say_to(gateway, cid, "hi")
        frames = drain(widget)
        assert drain(elsewhere) == []

    assert [f["type"] for f in frames] == ["message", "typing", "typing", "message"]
    assert [f["active"] for f in frames if f["type"] == "typing"] == [True, False]
    pushed = messages_in(frames)
    assert [m["id"] for m in pushed] == [exchange.message.id, exchange.replies[0].id]
    assert pushed[1]["text"] == "Hello! How can I help?"


def test_a_buttons_payload_goes_to_the_bot_and_its_title_is_stored(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions)
    payload = '/feedback_helpful{"article_id":"returns"}'
    exchange = say_to(gateway, cid, "Yes, thanks", payload=payload)
    assert rasa.calls == [(cid, payload)]
    assert exchange.message.text == "Yes, thanks"


def test_the_bot_is_told_the_customers_language_even_for_a_button(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions)
    say_to(gateway, cid, "转人工客服", payload="/request_human")  # the button's title tells
    say_to(gateway, cid, "12345")  # an order number does not: the conversation's language
    say_to(gateway, cid, "how do I return this?")
    assert rasa.languages == ["zh", "zh", "en"]


def test_a_resent_message_returns_the_first_answer_without_asking_the_bot_again(
    gateway: ChatGateway, rasa: FakeRasa, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions)
    first = say_to(gateway, cid, "where is my parcel?", client_message_id="m-1")
    rasa.replies = [BotReply(text="a different answer")]
    with hub.subscribe(cid) as widget:
        again = say_to(gateway, cid, "where is my parcel?", client_message_id="m-1")
        assert drain(widget) == []  # nothing is shown twice

    assert again.duplicate
    assert again.message == first.message
    assert again.replies == first.replies
    assert len(rasa.calls) == 1
    assert len(asyncio.run(gateway.transcript(cid))) == 2


def test_the_transcript_after_a_message_holds_only_the_later_ones(
    gateway: ChatGateway, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions)
    first = say_to(gateway, cid, "hi")
    second = say_to(gateway, cid, "thanks")
    later = asyncio.run(gateway.transcript(cid, after=first.replies[-1].id))
    assert [m.id for m in later] == [second.message.id, second.replies[0].id]


# -- Rasa is down ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "language"), [("where is my parcel?", "en"), ("我的包裹在哪里？", "zh")]
)
def test_with_the_bot_down_the_customer_hears_one_apology_in_their_language(
    gateway: ChatGateway,
    rasa: FakeRasa,
    hub: ConversationHub,
    sessions: sessionmaker[Session],
    text: str,
    language: str,
) -> None:
    rasa.down = True
    cid = open_conversation(sessions)
    with hub.subscribe(cid) as widget:
        exchange = say_to(gateway, cid, text)
        frames = drain(widget)

    [apology] = exchange.replies
    assert (apology.sender, apology.text) == ("system", say("assistant_down", language))
    assert [m["text"] for m in messages_in(frames)] == [text, apology.text]
    assert frames[-1]["type"] == "message"  # typing stopped before the apology
    stored = asyncio.run(gateway.transcript(cid))
    assert [m.sender for m in stored] == ["customer", "system"]


# -- an agent has the conversation -----------------------------------------------------------


def test_while_an_agent_has_it_the_bot_is_silent_and_the_customer_hears_the_queue(
    gateway: ChatGateway,
    rasa: FakeRasa,
    desk: HandoffDesk,
    hub: ConversationHub,
    sessions: sessionmaker[Session],
) -> None:
    cid = open_conversation(sessions, "我要找人工", language="zh")
    handed_over(desk, hub, cid, language="zh")
    with hub.subscribe(cid) as widget:
        exchange = say_to(gateway, cid, "还在吗？")
        frames = drain(widget)

    assert rasa.calls == []
    [notice] = exchange.replies
    assert (notice.sender, notice.kind) == ("system", "queue_position")
    assert notice.text == say("queue_position", "zh", position=1)
    # No typing indicator: nobody is typing. The agent's console sees the message.
    assert [f["type"] for f in frames] == ["message", "message"]
    assert [m["id"] for m in messages_in(frames)] == [exchange.message.id, notice.id]


def handoff_packet(sessions: sessionmaker[Session], handoff_id: int) -> dict[str, Any]:
    with sessions() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None
        return handoff.packet


def test_the_waiting_packet_takes_in_each_new_message(
    gateway: ChatGateway, desk: HandoffDesk, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "a person please")
    handoff_id = handed_over(desk, hub, cid)
    say_to(gateway, cid, "my parcel is lost")
    packet = handoff_packet(sessions, handoff_id)
    assert [s["text"] for s in packet["sentiment"]] == ["a person please", "my parcel is lost"]
    assert "updated_at" in packet


def test_a_ticket_the_bot_goes_on_answering_keeps_its_packet_current(
    gateway: ChatGateway, rasa: FakeRasa, desk: HandoffDesk, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "a person please")
    opened = asyncio.run(desk.open(HandoffCreate(conversation_id=cid, reason="requested")))
    with sessions() as session:  # nobody online: a ticket, and the bot stays
        assert ConversationStore(session).get(cid).handled_by == "bot"
    assert opened.status == "waiting"
    say_to(gateway, cid, "how do refunds work")
    assert rasa.calls  # the bot answered it
    packet = handoff_packet(sessions, opened.handoff_id)
    assert [s["text"] for s in packet["sentiment"]][-1] == "how do refunds work"


def test_the_queue_notice_comes_at_most_every_two_minutes(
    gateway: ChatGateway,
    desk: HandoffDesk,
    hub: ConversationHub,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cid = open_conversation(sessions, "I want a person")
    handed_over(desk, hub, cid)
    assert len(say_to(gateway, cid, "hello?").replies) == 1
    notified_at = utcnow()

    assert say_to(gateway, cid, "anyone?").replies == []
    monkeypatch.setattr("bot.handoff.desk.utcnow", lambda: notified_at + timedelta(seconds=115))
    assert say_to(gateway, cid, "hello??").replies == []
    monkeypatch.setattr("bot.handoff.desk.utcnow", lambda: notified_at + timedelta(seconds=125))
    [notice] = say_to(gateway, cid, "still waiting").replies
    assert notice.kind == "queue_position"


def test_the_queue_notice_tells_each_customer_their_own_place(
    gateway: ChatGateway, desk: HandoffDesk, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    first, second = open_conversation(sessions, "help"), open_conversation(sessions, "help")
    handed_over(desk, hub, first)
    handed_over(desk, hub, second)
    [notice] = say_to(gateway, second, "hello?").replies
    assert notice.text == say("queue_position", "en", position=2)


def test_once_an_agent_has_claimed_it_messages_wait_for_the_agent(
    gateway: ChatGateway,
    rasa: FakeRasa,
    desk: HandoffDesk,
    hub: ConversationHub,
    sessions: sessionmaker[Session],
    staff: Staff,
) -> None:
    cid = open_conversation(sessions, "I want a person")
    handoff_id = handed_over(desk, hub, cid)
    asyncio.run(desk.claim(handoff_id, staff.alice))
    with hub.subscribe(cid) as console:
        exchange = say_to(gateway, cid, "my order is 1234")
        assert [m["text"] for m in messages_in(drain(console))] == ["my order is 1234"]
    assert exchange.replies == []
    assert rasa.calls == []


def test_a_resent_message_while_waiting_returns_the_queue_notice(
    gateway: ChatGateway, desk: HandoffDesk, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions, "I want a person")
    handed_over(desk, hub, cid)
    first = say_to(gateway, cid, "hello?", client_message_id="m-1")
    again = say_to(gateway, cid, "hello?", client_message_id="m-1")
    assert again.duplicate
    assert again.replies == first.replies


def test_when_the_handoff_ends_the_bot_answers_again(
    gateway: ChatGateway,
    rasa: FakeRasa,
    desk: HandoffDesk,
    hub: ConversationHub,
    sessions: sessionmaker[Session],
    staff: Staff,
) -> None:
    cid = open_conversation(sessions, "I want a person")
    handoff_id = handed_over(desk, hub, cid)
    asyncio.run(desk.claim(handoff_id, staff.alice))
    asyncio.run(desk.give_back(handoff_id, staff.alice))
    exchange = say_to(gateway, cid, "one more question")
    assert rasa.calls == [(cid, "one more question")]
    assert [r.sender for r in exchange.replies] == ["bot"]


# -- the rating after the bot helped ---------------------------------------------------------


def helped(sessions: sessionmaker[Session], cid: str) -> None:
    with sessions() as session:
        BotTrail(session).record_feedback(cid, "returns", 1, helpful=True)


@pytest.mark.parametrize(("goodbye", "language"), [("bye, thanks", "en"), ("谢谢，再见", "zh")])
def test_a_goodbye_after_a_helpful_answer_asks_for_a_rating_once(
    gateway: ChatGateway,
    rasa: FakeRasa,
    sessions: sessionmaker[Session],
    goodbye: str,
    language: str,
) -> None:
    rasa.replies = [BotReply(text="Goodbye!", end_of_chat=True)]
    cid = open_conversation(sessions, "how do I return?")
    helped(sessions, cid)

    exchange = say_to(gateway, cid, goodbye)
    assert [(r.sender, r.kind) for r in exchange.replies] == [
        ("bot", None),
        ("system", "csat_request"),
    ]
    assert exchange.replies[1].text == say("rating_after_bot", language)

    again = say_to(gateway, cid, goodbye)
    assert [r.sender for r in again.replies] == ["bot"]
    kinds = [m.kind for m in asyncio.run(gateway.transcript(cid))]
    assert kinds.count("csat_request") == 1


def test_the_rating_request_is_pushed_with_the_goodbye(
    gateway: ChatGateway, rasa: FakeRasa, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    rasa.replies = [BotReply(text="Goodbye!", end_of_chat=True)]
    cid = open_conversation(sessions)
    helped(sessions, cid)
    with hub.subscribe(cid) as widget:
        say_to(gateway, cid, "bye")
        pushed = messages_in(drain(widget))
    assert [m["kind"] for m in pushed] == [None, None, "csat_request"]


def test_a_goodbye_without_a_helpful_answer_asks_nothing(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    rasa.replies = [BotReply(text="Goodbye!", end_of_chat=True)]
    cid = open_conversation(sessions)
    with sessions() as session:
        BotTrail(session).record_feedback(cid, "returns", 1, helpful=False)
    assert [r.sender for r in say_to(gateway, cid, "bye").replies] == ["bot"]


def test_a_helpful_answer_without_a_goodbye_asks_nothing(
    gateway: ChatGateway, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions)
    helped(sessions, cid)
    assert [r.sender for r in say_to(gateway, cid, "ok").replies] == ["bot"]


def test_a_rated_conversation_is_not_asked_again(
    gateway: ChatGateway, rasa: FakeRasa, desk: HandoffDesk, sessions: sessionmaker[Session]
) -> None:
    rasa.replies = [BotReply(text="Goodbye!", end_of_chat=True)]
    cid = open_conversation(sessions)
    helped(sessions, cid)
    asyncio.run(desk.rate(cid, 5, None))
    assert [r.sender for r in say_to(gateway, cid, "bye").replies] == ["bot"]


# -- unknown conversations -------------------------------------------------------------------


def test_an_unknown_conversation_is_not_found(gateway: ChatGateway, rasa: FakeRasa) -> None:
    with pytest.raises(ConversationNotFoundError):
        say_to(gateway, "nope", "hi")
    with pytest.raises(ConversationNotFoundError):
        asyncio.run(gateway.transcript("nope"))
    assert rasa.calls == []


# -- every stored message is answered once ---------------------------------------------------


def owed(sessions: sessionmaker[Session], cid: str) -> list[str]:
    with sessions() as session:
        return [m.text for m in ConversationStore(session).owed_answers(cid)]


def redeliver(gateway: ChatGateway) -> int:
    return asyncio.run(gateway.redeliver(min_age_s=0))


def test_a_message_the_redelivery_answered_while_it_waited_is_not_answered_again(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    """The redelivery holds the conversation (a service just started) when a new message is
    stored; it answers that one too, and the message's own turn must not answer it again."""
    cid = open_conversation(sessions)

    async def scenario() -> ExchangePublic:
        async with gateway._lock(cid):
            receiving = asyncio.create_task(gateway.receive(cid, MessageCreate(text="hi")))
            while not owed(sessions, cid):  # stored; now it waits for the lock
                await asyncio.sleep(0.01)
            assert await gateway._catch_up(cid) == 1  # what a redelivery round does
        return await receiving

    exchange = asyncio.run(scenario())
    assert len(rasa.calls) == 1
    assert [r.text for r in exchange.replies] == ["Hello! How can I help?"]
    transcript = asyncio.run(gateway.transcript(cid))
    assert [m.sender for m in transcript] == ["customer", "bot"]


def test_a_message_the_bot_could_not_answer_is_answered_when_it_is_back(
    gateway: ChatGateway, rasa: FakeRasa, hub: ConversationHub, sessions: sessionmaker[Session]
) -> None:
    rasa.down = True
    cid = open_conversation(sessions)
    first = say_to(gateway, cid, "where is my parcel?")
    assert owed(sessions, cid) == ["where is my parcel?"]
    assert redeliver(gateway) == 0  # still down: it waits, and no second apology

    rasa.down = False
    with hub.subscribe(cid) as widget:
        assert redeliver(gateway) == 1
        frames = drain(widget)

    assert [m["text"] for m in messages_in(frames)] == ["Hello! How can I help?"]
    transcript = asyncio.run(gateway.transcript(cid))
    assert [(m.sender, m.text) for m in transcript] == [
        ("customer", "where is my parcel?"),
        ("system", say("assistant_down", "en")),
        ("bot", "Hello! How can I help?"),
    ]
    with sessions() as session:
        assert ConversationStore(session).replies_to(first.message.id)[-1].sender == "bot"
    assert owed(sessions, cid) == []
    assert rasa.message_ids == [first.message.id] * 2  # the same id each time Rasa was asked
    assert redeliver(gateway) == 0  # answered once


def test_an_answer_rasa_gave_before_the_service_died_is_stored_not_asked_again(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    cid = open_conversation(sessions)
    with sessions() as session:  # stored, then the service died while Rasa answered it
        message, _ = ConversationStore(session).add_customer_message(cid, "hi", "m-1")
    rasa.tracker[cid] = [(message.id, [BotReply(text="Hi there!")])]

    assert redeliver(gateway) == 1

    assert rasa.calls == []
    transcript = asyncio.run(gateway.transcript(cid))
    assert [(m.sender, m.text) for m in transcript] == [("customer", "hi"), ("bot", "Hi there!")]


def test_a_turn_whose_action_failed_is_sent_again_as_it_is(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    rasa.silent = True  # the action server died: Rasa answers nothing
    cid = open_conversation(sessions)
    exchange = say_to(gateway, cid, "how do I return this?")
    assert [r.text for r in exchange.replies] == [say("assistant_down", "en")]

    rasa.silent = False
    assert redeliver(gateway) == 1

    # The same message id twice: the silent turn, then the answer (replies_given reads the last).
    [(first_id, silent), (second_id, answered)] = rasa.tracker[cid]
    assert (first_id, silent) == (second_id, [])
    assert answered == rasa.replies
    assert owed(sessions, cid) == []


@pytest.mark.parametrize("dies", ["after taking it", "before taking it"])
def test_when_rasa_dies_with_a_message_another_rasa_answers_it_once(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session], dies: str
) -> None:
    rasa.base_urls = ["http://rasa-1", "http://rasa-2"]
    rasa.dies = dies
    cid = open_conversation(sessions)
    exchange = say_to(gateway, cid, "how do I return this?")
    assert [r.text for r in exchange.replies] == ["Hello! How can I help?"]
    # Taken before it died: read from the shared tracker, not sent again.
    assert len(rasa.calls) == (1 if dies == "after taking it" else 2)
    assert [answer for _, answer in rasa.tracker[cid]] == [rasa.replies]
    assert owed(sessions, cid) == []


def test_with_one_rasa_a_message_it_died_with_waits_for_it(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    rasa.dies = "before taking it"
    cid = open_conversation(sessions)
    exchange = say_to(gateway, cid, "how do I return this?")
    assert [r.text for r in exchange.replies] == [say("assistant_down", "en")]
    assert len(rasa.calls) == 1 and len(owed(sessions, cid)) == 1


def test_a_message_rasa_never_answers_is_not_asked_for_ever(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    rasa.silent = True
    cid = open_conversation(sessions)
    say_to(gateway, cid, "hello?")
    for _ in range(5):
        redeliver(gateway)

    assert len(rasa.calls) == MAX_SILENT_ANSWERS
    assert owed(sessions, cid) == []


def test_silence_while_the_action_server_is_down_is_not_held_against_the_message(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    rasa.silent = rasa.actions_down = True  # killed: Rasa takes every message, says nothing
    cid = open_conversation(sessions)
    say_to(gateway, cid, "how do I return this?")
    for _ in range(2 * MAX_SILENT_ANSWERS):
        redeliver(gateway)
    assert owed(sessions, cid) == ["how do I return this?"]

    rasa.silent = rasa.actions_down = False  # started again
    assert redeliver(gateway) == 1
    assert owed(sessions, cid) == []


def test_resending_an_unanswered_message_asks_again(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    rasa.down = True
    cid = open_conversation(sessions)
    say_to(gateway, cid, "where is my parcel?", client_message_id="m-1")
    rasa.down = False

    again = say_to(gateway, cid, "where is my parcel?", client_message_id="m-1")

    assert again.duplicate
    assert [(r.sender, r.text) for r in again.replies] == [("bot", "Hello! How can I help?")]
    assert owed(sessions, cid) == []
    assert len(rasa.calls) == 2


def test_a_new_message_comes_after_the_answers_still_owed(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    rasa.down = True
    cid = open_conversation(sessions)
    say_to(gateway, cid, "first")
    rasa.down = False

    say_to(gateway, cid, "second")

    assert [text for _, text in rasa.calls] == ["first", "first", "second"]
    transcript = asyncio.run(gateway.transcript(cid))
    questions = {m.id: m.text for m in transcript if m.sender == "customer"}
    with sessions() as session:
        answered = [
            questions[m.reply_to]
            for m in session.scalars(select(Message).where(Message.sender == "bot"))
            if m.reply_to is not None
        ]
    assert answered == ["first", "second"]


def test_once_an_agent_has_the_conversation_the_bot_owes_nothing(
    gateway: ChatGateway,
    rasa: FakeRasa,
    desk: HandoffDesk,
    hub: ConversationHub,
    sessions: sessionmaker[Session],
) -> None:
    rasa.down = True
    cid = open_conversation(sessions)
    say_to(gateway, cid, "I want a person")
    rasa.down = False
    handed_over(desk, hub, cid)

    assert redeliver(gateway) == 0
    assert len(rasa.calls) == 1
    assert owed(sessions, cid) == []


def test_a_message_owed_for_more_than_a_day_is_left(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    rasa.down = True
    cid = open_conversation(sessions)
    say_to(gateway, cid, "anyone?")
    with sessions() as session:
        for message in ConversationStore(session).owed_answers(cid):
            message.created_at = utcnow() - timedelta(days=2)
        session.commit()
    rasa.down = False

    assert redeliver(gateway) == 0
    assert len(rasa.calls) == 1
    assert owed(sessions, cid) == []


# -- an answer is stored whole, and once ------------------------------------------------------


def test_an_answer_that_cannot_be_stored_whole_leaves_the_message_owed(
    gateway: ChatGateway, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    """The connection drops (here: a reply that cannot be written) after the first reply: the
    message is neither settled nor half answered, so a resend or the redelivery answers it."""
    unstorable = BotReply(text="See:", articles=[{"title": object()}])  # not JSON
    rasa.replies = [BotReply(text="Return within 30 days."), unstorable]
    cid = open_conversation(sessions)
    with pytest.raises((StatementError, TypeError)):
        say_to(gateway, cid, "how do I return this?", client_message_id="m-1")
    assert owed(sessions, cid) == ["how do I return this?"]
    assert [m.sender for m in asyncio.run(gateway.transcript(cid))] == ["customer"]

    rasa.replies = [BotReply(text="Return within 30 days.")]
    rasa.tracker.clear()  # Rasa's next answer is one that can be stored
    again = say_to(gateway, cid, "how do I return this?", client_message_id="m-1")
    assert [r.text for r in again.replies] == ["Return within 30 days."]
    assert owed(sessions, cid) == []


class LapsedLocks:
    """A conversation lock that lapsed under its holder (its renewals failed): every task that
    asks holds it at once."""

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[HeldLock]:
        held = HeldLock()
        held.lost.set()
        yield held


class LateRasa(FakeRasa):
    """Takes the first message at once (its tracker has the turn) but answers it only when told:
    the first holder is still waiting for it when another holder reads the tracker."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.first_may_answer = asyncio.Event()

    async def send(
        self,
        sender: str,
        text: str,
        language: str | None = None,
        message_id: int | None = None,
        channel: str | None = None,
    ) -> list[BotReply]:
        late = not self.calls
        replies = await super().send(sender, text, language, message_id, channel)
        if late:
            await self.first_may_answer.wait()
            return [BotReply(text="the first holder's answer")]
        return replies


def test_two_holders_of_a_lapsed_lock_store_one_answer(
    sessions: sessionmaker[Session], hub: ConversationHub, desk: HandoffDesk
) -> None:
    rasa = LateRasa(sessions)
    gateway = ChatGateway(sessions, rasa, hub, desk, locks=LapsedLocks())  # type: ignore[arg-type]
    told: list[list[str]] = []

    async def listener(cid: str, message: Message, replies: list[Any]) -> None:
        told.append([r.text for r in replies])

    gateway.answer_listeners.append(listener)
    cid = open_conversation(sessions)
    incoming = MessageCreate(text="hi", client_message_id="m-1")

    async def scenario() -> tuple[ExchangePublic, ExchangePublic]:
        first = asyncio.create_task(gateway.receive(cid, incoming))
        while not rasa.calls:  # the first holder waits on Rasa
            await asyncio.sleep(0.01)
        second = await gateway.receive(cid, incoming)  # resent: the other holder answers it
        rasa.first_may_answer.set()
        return await first, second

    first, second = asyncio.run(scenario())
    transcript = asyncio.run(gateway.transcript(cid))
    assert [(m.sender, m.text) for m in transcript] == [
        ("customer", "hi"),
        ("bot", "Hello! How can I help?"),
    ]
    assert [r.id for r in first.replies] == [r.id for r in second.replies]
    assert [r.text for r in first.replies] == ["Hello! How can I help?"]
    assert told == [["Hello! How can I help?"]]  # the mail goes once, with the stored answer
