"""Conversations on the real stack (trained Rasa model, action server, service, FAISS index,
SQLite file), over HTTP and the WebSocket, in Chinese and English."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.stack import Stack
from tests.e2e.chat import Customer, bot_messages, socket_say

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


def customer(stack: Stack, language: str) -> Customer:
    return Customer(stack.config.service_url, language).open()


def answer_of(replies: list[dict[str, Any]]) -> dict[str, Any]:
    [answer] = [reply for reply in replies if reply["articles"]]
    return answer


def payload_article(button: dict[str, str]) -> str:
    """The article id in a button's payload, e.g. /ask_question{"article_id": "x"}."""
    article_id: str = json.loads(button["payload"][button["payload"].index("{") :])["article_id"]
    return article_id


def trail(stack: Stack, conversation_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{stack.config.service_url}/api/v1/internal/conversations/{conversation_id}/trail",
        headers={"Authorization": f"Bearer {stack.service_token}"},
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_every_part_of_the_stack_is_healthy(stack: Stack) -> None:
    health = httpx.get(f"{stack.config.service_url}/api/v1/health").json()
    assert {name: health[name]["status"] for name in ("database", "rasa", "action_server")} == {
        "database": "ok",
        "rasa": "ok",
        "action_server": "ok",
    }


@pytest.mark.parametrize(("language", "greeting"), [("zh", "你好"), ("en", "Hello there")])
def test_a_greeting_is_answered_in_the_customers_language(
    stack: Stack, language: str, greeting: str
) -> None:
    [reply] = customer(stack, language).say(greeting)
    assert has_chinese(reply["text"]) == (language == "zh")
    assert reply["articles"] == []


@pytest.mark.parametrize(
    ("language", "question", "article_id", "title"),
    [
        ("zh", "我想退货", "returns-policy-zh", "退货政策"),
        ("en", "How long does a refund take?", "refund-timeline", "How long refunds take"),
    ],
)
def test_a_question_is_answered_from_the_knowledge_base_with_its_link(
    stack: Stack, language: str, question: str, article_id: str, title: str
) -> None:
    chat = customer(stack, language)
    answer = answer_of(chat.say(question))
    assert has_chinese(answer["text"]) == (language == "zh")
    [article] = answer["articles"]
    assert (article["id"], article["url"]) == (article_id, f"/articles/{article_id}")
    page = httpx.get(f"{stack.config.service_url}{article['url']}")
    assert page.status_code == 200 and title in page.text
    assert [b["payload"].split("{")[0] for b in answer["buttons"]] == [
        "/feedback_helpful",
        "/feedback_not_helpful",
    ]
    [lookup] = trail(stack, chat.id)["lookups"]
    assert (lookup["question"], lookup["band"], lookup["hits"][0]["article_id"]) == (
        question,
        "answer",
        article_id,
    )


@pytest.mark.parametrize(
    ("language", "question", "no"),
    [("zh", "我想退货", "没帮助"), ("en", "How do I return an item?", "No")],
)
def test_not_helpful_offers_other_articles_and_is_recorded(
    stack: Stack, language: str, question: str, no: str
) -> None:
    chat = customer(stack, language)
    answer = answer_of(chat.say(question))
    first_article = answer["articles"][0]["id"]
    [offer] = chat.press(answer, no)
    options = [b for b in offer["buttons"] if b["payload"].startswith("/ask_question")]
    assert options, offer
    assert first_article not in [payload_article(b) for b in options]
    [feedback] = trail(stack, chat.id)["feedback"]
    assert (feedback["article_id"], feedback["helpful"]) == (first_article, False)
    # The customer picks one of the other articles: it is answered with its own link.
    picked = answer_of(chat.press(offer, options[0]["title"]))
    assert picked["articles"][0]["id"] == payload_article(options[0])


@pytest.mark.parametrize(
    ("language", "question"), [("zh", "礼品卡余额怎么查"), ("en", "can I pay later")]
)
def test_an_unsure_match_asks_which_article_is_meant(
    stack: Stack, language: str, question: str
) -> None:
    chat = customer(stack, language)
    [clarify] = chat.say(question)
    assert has_chinese(clarify["text"]) == (language == "zh")
    options = [b for b in clarify["buttons"] if b["payload"].startswith("/ask_question")]
    # Only topics worth offering, each once (translations fold into one topic).
    assert 1 <= len(options) <= 3, clarify
    assert len({payload_article(o) for o in options}) == len(options)
    assert clarify["articles"] == []
    assert trail(stack, chat.id)["lookups"][0]["band"] == "clarify"
    picked = answer_of(chat.press(clarify, options[0]["title"]))
    assert picked["articles"][0]["id"] == payload_article(options[0])
    assert picked["articles"][0]["title"] == options[0]["title"]


@pytest.mark.parametrize(
    ("language", "question", "refusal"),
    [
        ("zh", "明天北京天气怎么样", "帮不上忙"),
        ("en", "What will the weather be like tomorrow?", "can't help with that"),
    ],
)
def test_out_of_scope_is_declined_politely(
    stack: Stack, language: str, question: str, refusal: str
) -> None:
    replies = customer(stack, language).say(question)
    assert any(refusal in reply["text"] for reply in replies), replies
    assert all(reply["articles"] == [] for reply in replies)


@pytest.mark.parametrize(
    ("language", "greeting", "question", "article_id"),
    [
        ("zh", "你好", "怎么修改收货地址", "change-address-zh"),
        ("en", "Hi", "How do I track my order?", "track-order"),
    ],
)
def test_a_conversation_over_the_websocket_survives_a_reconnect(
    stack: Stack, language: str, greeting: str, question: str, article_id: str
) -> None:
    chat = customer(stack, language)
    with chat.socket() as ws:
        assert '"ready"' in str(ws.recv(timeout=10))
        greeted = bot_messages(socket_say(ws, greeting))
        answered = bot_messages(socket_say(ws, question))
    assert greeted and has_chinese(greeted[0]["text"]) == (language == "zh")
    assert answer_of(answered)["articles"][0]["id"] == article_id
    # A dropped connection comes back with everything, once, in order.
    seen = greeted + answered
    with chat.socket(after=0) as ws:
        replayed = []
        while '"ready"' not in (raw := str(ws.recv(timeout=10))):
            replayed.append(raw)
    assert len(replayed) == 2 + len(seen)
    assert all(str(message["id"]) in "".join(replayed) for message in seen)
