"""The bridge to Rasa's REST channel, against a loopback server answering like Rasa."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.conversations.rasa_client import (
    BotReply,
    RasaClient,
    RasaUnavailableError,
    replies_in_turn,
    with_language,
)


class FakeRasa(BaseHTTPRequestHandler):
    """Answers every request with ``status`` and ``body``; records the path (with its query)
    and the JSON sent. Like ``rasa run --auth-token``, its HTTP API (all but the REST channel)
    answers 401 without ``?token=<token>``; ``/health`` is open, as the action server's is."""

    status: ClassVar[int] = 200
    body: ClassVar[Any] = []
    received: ClassVar[list[tuple[str, Any]]] = []
    token: ClassVar[str] = "rasa-api-token"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(length)) if length else None
        FakeRasa.received.append((self.path, sent))
        url = urlsplit(self.path)
        authorized = parse_qs(url.query).get("token") == [FakeRasa.token]
        status = FakeRasa.status
        if not url.path.startswith("/webhooks/") and url.path != "/health" and not authorized:
            status = 401
        data = json.dumps(FakeRasa.body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on loopback answering with ``handler``, for a fixture to yield."""
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def rasa_url() -> Iterator[str]:
    FakeRasa.status, FakeRasa.body, FakeRasa.received = 200, [], []
    yield from serving(FakeRasa)


def send(base_url: str, text: str = "hello", timeout_s: float = 5.0) -> list[BotReply]:
    async def scenario() -> list[BotReply]:
        client = RasaClient(base_url, timeout_s=timeout_s)
        try:
            return await client.send("conv-1", text)
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def answers(*items: dict[str, Any]) -> None:
    FakeRasa.body = [{"recipient_id": "conv-1", **item} for item in items]


def test_the_message_goes_to_the_rest_webhook_as_the_conversation(rasa_url: str) -> None:
    answers({"text": "hi"})
    send(rasa_url, "我的退款呢")
    assert FakeRasa.received == [
        ("/webhooks/rest/webhook", {"sender": "conv-1", "message": "我的退款呢"})
    ]


def test_each_text_is_a_reply_in_order(rasa_url: str) -> None:
    answers({"text": "First."}, {"text": "Second."})
    assert send(rasa_url) == [BotReply(text="First."), BotReply(text="Second.")]


def test_no_answer_is_no_replies(rasa_url: str) -> None:
    answers()
    assert send(rasa_url) == []


def test_buttons_keep_title_and_payload_as_text(rasa_url: str) -> None:
    answers(
        {
            "text": "Did this help?",
            "buttons": [
                {"title": "Yes", "payload": '/feedback_helpful{"article_id":"returns"}'},
                {"title": 3, "payload": 4, "type": "postback"},
                {"payload": "/deny"},
            ],
        }
    )
    [reply] = send(rasa_url)
    assert reply.buttons == [
        {"title": "Yes", "payload": '/feedback_helpful{"article_id":"returns"}'},
        {"title": "3", "payload": "4"},
        {"title": "", "payload": "/deny"},
    ]


def test_articles_in_a_replys_custom_part_belong_to_it(rasa_url: str) -> None:
    article = {"id": "returns", "title": "Returns", "url": "/articles/returns"}
    answers({"text": "You can return within 30 days.", "custom": {"articles": [article]}})
    [reply] = send(rasa_url)
    assert reply.articles == [article]
    assert reply.payload() == {"buttons": [], "articles": [article]}


def test_a_json_message_of_its_own_joins_the_reply_before_it(rasa_url: str) -> None:
    # An action's json_message (and a response's custom part) arrives as a message of its own.
    first = {"id": "returns", "title": "Returns"}
    second = {"id": "refunds", "title": "Refunds"}
    answers(
        {"text": "Which of these is closest?", "buttons": [{"title": "A", "payload": "/a"}]},
        {"custom": {"articles": [first]}},
        {"custom": {"articles": [second]}},
    )
    [reply] = send(rasa_url)
    assert reply.text == "Which of these is closest?"
    assert reply.buttons == [{"title": "A", "payload": "/a"}]
    assert reply.articles == [first, second]
    assert not reply.end_of_chat


def test_a_goodbye_with_end_of_chat_marks_the_reply_before_it(rasa_url: str) -> None:
    # Rasa sends utter_goodbye's text, then its custom part {"end_of_chat": true}.
    answers({"text": "Goodbye!"}, {"custom": {"end_of_chat": True}})
    assert send(rasa_url) == [BotReply(text="Goodbye!", end_of_chat=True)]


def test_end_of_chat_in_the_same_message_marks_it(rasa_url: str) -> None:
    answers({"text": "Thanks.", "custom": {}}, {"text": "Goodbye!", "custom": {"end_of_chat": 1}})
    replies = send(rasa_url)
    assert [r.end_of_chat for r in replies] == [False, True]


def test_buttons_without_text_are_a_reply_of_their_own(rasa_url: str) -> None:
    answers({"text": "Anything else?"}, {"buttons": [{"title": "No", "payload": "/deny"}]})
    replies = send(rasa_url)
    assert [(r.text, r.buttons) for r in replies] == [
        ("Anything else?", []),
        ("", [{"title": "No", "payload": "/deny"}]),
    ]


@pytest.mark.parametrize("status", [500, 404, 503])
def test_an_error_status_is_rasa_unavailable(rasa_url: str, status: int) -> None:
    FakeRasa.status = status
    answers({"text": "never read"})
    with pytest.raises(RasaUnavailableError, match=f"HTTP {status}"):
        send(rasa_url)


def test_nothing_listening_is_rasa_unavailable() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(RasaUnavailableError):
        send(f"http://127.0.0.1:{port}")


def test_no_answer_in_time_is_rasa_unavailable() -> None:
    # A server that accepts the connection and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(RasaUnavailableError, match="Timeout"):
            send(f"http://127.0.0.1:{port}", timeout_s=0.2)


def closed_port() -> int:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return int(closed.getsockname()[1])


def conversation_first_on(client: RasaClient, index: int) -> str:
    """A conversation id whose first choice is the Rasa at ``index``."""
    return next(f"conv-{n}" for n in range(1000) if client.first_choice(f"conv-{n}") == index)


def test_a_rasa_that_refuses_the_connection_hands_over_to_the_next(rasa_url: str) -> None:
    answers({"text": "From the second Rasa."})
    dead = f"http://127.0.0.1:{closed_port()}"

    async def scenario() -> tuple[list[BotReply], str, list[BotReply]]:
        client = RasaClient([dead, rasa_url + "/"])
        try:
            conversation = conversation_first_on(client, 0)
            first = await client.send(conversation, "hello")
            serving = client.base_url
            FakeRasa.received.clear()
            second = await client.send(conversation, "again")
            return first, serving, second
        finally:
            await client.aclose()

    first, serving, second = asyncio.run(scenario())
    assert first == second == [BotReply(text="From the second Rasa.")]
    assert serving == rasa_url
    assert [path for path, _ in FakeRasa.received] == ["/webhooks/rest/webhook"]


def test_conversations_are_spread_over_the_rasa_processes_each_keeping_to_its_own() -> None:
    client = RasaClient([f"http://rasa-{n}" for n in range(3)])
    conversations = [f"c{n}" for n in range(300)]
    choices = [client.first_choice(c) for c in conversations]
    # Stable: the same in another process (another client), not Python's salted hash().
    assert choices == [RasaClient(client.base_urls).first_choice(c) for c in conversations]
    assert all(80 <= choices.count(index) <= 120 for index in range(3))
    asyncio.run(client.aclose())


def test_an_error_answer_is_not_handed_over(rasa_url: str) -> None:
    """Rasa took the request and failed: another may not take it again (the gateway asks the
    tracker whether the message was taken)."""
    FakeRasa.status = 500

    async def scenario() -> None:
        client = RasaClient([rasa_url, f"http://127.0.0.1:{closed_port()}"])
        try:
            await client.send("conv-1", "hello")
        finally:
            await client.aclose()

    with pytest.raises(RasaUnavailableError, match="HTTP 500"):
        asyncio.run(scenario())
    assert len(FakeRasa.received) == 1


class FailingRasa(BaseHTTPRequestHandler):
    """A Rasa that takes every request and answers 500; counts them."""

    requests: ClassVar[int] = 0

    def do_POST(self) -> None:
        FailingRasa.requests += 1
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_url() -> Iterator[str]:
    FailingRasa.requests = 0
    yield from serving(FailingRasa)


@pytest.fixture
def wedged_url() -> Iterator[str]:
    """A Rasa that accepts connections and never answers."""
    with socket.socket() as wedged:
        wedged.bind(("127.0.0.1", 0))
        wedged.listen(8)
        yield f"http://127.0.0.1:{wedged.getsockname()[1]}"


def test_a_wedged_rasa_is_passed_over_for_its_conversations_next_calls(
    wedged_url: str, rasa_url: str
) -> None:
    """The call that timed out is not sent on (Rasa may have taken it): it fails; the next
    ones for that conversation, the tracker read first, go to the next Rasa."""
    answers({"text": "From the second Rasa."})

    async def scenario() -> tuple[str, list[BotReply] | None, list[BotReply]]:
        client = RasaClient([wedged_url, rasa_url], timeout_s=0.3, token=FakeRasa.token)
        try:
            conversation = conversation_first_on(client, 0)
            with pytest.raises(RasaUnavailableError, match="Timeout"):
                await client.send(conversation, "hello", message_id=7)
            assert FakeRasa.received == []
            given = await client.replies_given(conversation, 7)
            return conversation, given, await client.send(conversation, "hello", message_id=7)
        finally:
            await client.aclose()

    conversation, given, replies = asyncio.run(scenario())
    assert given is None  # the fake's "tracker" holds no turn: never taken
    assert replies == [BotReply(text="From the second Rasa.")]
    assert [urlsplit(path).path for path, _ in FakeRasa.received] == [
        f"/conversations/{conversation}/tracker",
        "/webhooks/rest/webhook",
    ]


def test_a_rasa_answering_5xx_is_passed_over_for_a_while_then_tried_again(
    failing_url: str, rasa_url: str
) -> None:
    answers({"text": "From the second Rasa."})

    async def scenario() -> list[list[BotReply]]:
        client = RasaClient([failing_url, rasa_url], unhealthy_for_s=0.5)
        try:
            conversation = conversation_first_on(client, 0)
            with pytest.raises(RasaUnavailableError, match="HTTP 500"):
                await client.send(conversation, "hello")
            moved = [await client.send(conversation, "again") for _ in range(2)]
            await asyncio.sleep(0.6)  # the while is over: its own Rasa first again
            with pytest.raises(RasaUnavailableError, match="HTTP 500"):
                await client.send(conversation, "later")
            return moved
        finally:
            await client.aclose()

    moved = asyncio.run(scenario())
    assert moved == [[BotReply(text="From the second Rasa.")]] * 2
    assert FailingRasa.requests == 2
    assert len(FakeRasa.received) == 2


def test_with_one_rasa_a_failing_one_is_still_the_one_asked(failing_url: str) -> None:
    async def scenario() -> None:
        client = RasaClient(failing_url)
        try:
            for _ in range(2):
                with pytest.raises(RasaUnavailableError, match="HTTP 500"):
                    await client.send("conv-1", "hello")
        finally:
            await client.aclose()

    asyncio.run(scenario())
    assert FailingRasa.requests == 2


def test_every_rasa_refusing_is_rasa_unavailable() -> None:
    urls = [f"http://127.0.0.1:{closed_port()}" for _ in range(2)]
    with pytest.raises(RasaUnavailableError, match="ConnectError"):

        async def scenario() -> None:
            client = RasaClient(urls)
            try:
                await client.send("conv-1", "hello")
            finally:
                await client.aclose()

        asyncio.run(scenario())


def test_a_payload_carries_the_language_as_an_entity() -> None:
    assert with_language("/request_human", "zh") == '/request_human{"language": "zh"}'
    assert (
        with_language('/feedback_helpful{"article_id": "x"}', "en")
        == '/feedback_helpful{"article_id": "x", "language": "en"}'
    )
    assert with_language("where is my parcel", "en") == "where is my parcel"
    assert with_language("/broken{", "en") == "/broken{"


# -- finding a turn again in the tracker -----------------------------------------------------


def user(message_id: int | None, text: str = "hi") -> dict[str, Any]:
    metadata = {} if message_id is None else {"kefu_message_id": message_id}
    return {"event": "user", "text": text, "metadata": metadata}


def bot(text: str, **data: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, "data": data}


def test_the_service_message_id_travels_in_the_metadata(rasa_url: str) -> None:
    async def scenario() -> None:
        client = RasaClient(rasa_url)
        try:
            await client.send("conv-1", "hello", "en", message_id=7)
        finally:
            await client.aclose()

    asyncio.run(scenario())
    [(_, sent)] = FakeRasa.received
    assert sent["metadata"] == {"language": "en", "kefu_message_id": 7}


def test_the_replies_of_a_turn_are_the_bot_events_up_to_the_next_user_event() -> None:
    article = {"id": "returns", "url": "/articles/returns"}
    events = [
        user(1),
        bot("Hello!"),
        {"event": "action", "name": "action_listen"},
        user(2, "how do I return?"),
        bot("Within 30 days.", custom={"articles": [article]}),
        bot("Did this help?", buttons=[{"title": "Yes", "payload": "/feedback_helpful"}]),
        user(3),
    ]

    replies = replies_in_turn(events, 2)

    assert replies is not None
    assert [r.text for r in replies] == ["Within 30 days.", "Did this help?"]
    assert replies[0].articles == [article]
    assert replies[1].buttons == [{"title": "Yes", "payload": "/feedback_helpful"}]


def test_a_turn_rasa_never_took_or_that_was_undone_is_none() -> None:
    assert replies_in_turn([user(1), bot("Hello!")], 2) is None
    assert replies_in_turn([user(2), {"event": "rewind"}], 2) is None


def test_a_turn_taken_without_a_word_is_empty_and_the_last_take_counts() -> None:
    assert replies_in_turn([user(2), {"event": "action", "name": "action_listen"}], 2) == []
    assert replies_in_turn([user(2), {"event": "rewind"}, user(2), bot("Hi")], 2) == [
        BotReply(text="Hi")
    ]


# -- Rasa's auth token -----------------------------------------------------------------------


def tracker_calls(base_url: str, token: str | None) -> list[BotReply] | None:
    async def scenario() -> list[BotReply] | None:
        client = RasaClient(base_url, token=token)
        try:
            return await client.replies_given("conv 1", 2)
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def test_the_tracker_calls_carry_rasas_auth_token(rasa_url: str) -> None:
    FakeRasa.body = {"events": [user(2), bot("Hi")]}

    assert tracker_calls(rasa_url, "rasa-api-token") == [BotReply(text="Hi")]
    assert FakeRasa.received == [
        ("/conversations/conv%201/tracker?token=rasa-api-token", None),
    ]


def test_without_the_token_rasas_api_refuses_the_tracker(rasa_url: str) -> None:
    with pytest.raises(RasaUnavailableError, match="HTTP 401"):
        tracker_calls(rasa_url, None)


def test_the_rest_channel_is_not_given_the_token(rasa_url: str) -> None:
    async def scenario() -> list[BotReply]:
        client = RasaClient(rasa_url, token="rasa-api-token")
        try:
            return await client.send("conv-1", "hello")
        finally:
            await client.aclose()

    answers({"text": "hi"})
    assert asyncio.run(scenario()) == [BotReply(text="hi")]
    [(path, _)] = FakeRasa.received
    assert path == "/webhooks/rest/webhook"


def actions_up(actions_url: str | None) -> bool:
    async def scenario() -> bool:
        client = RasaClient("http://127.0.0.1:9", actions_url=actions_url)
        try:
            return await client.actions_up()
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def test_the_action_server_is_up_when_its_health_check_answers(rasa_url: str) -> None:
    assert actions_up(rasa_url)
    assert FakeRasa.received == [("/health", None)]
    FakeRasa.status = 500
    assert not actions_up(rasa_url)


def test_an_action_server_that_refuses_connections_is_down() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert not actions_up(f"http://127.0.0.1:{port}")
    assert actions_up(None)  # not known: silence counts against the message
