"""A message stored while Rasa is down is answered once Rasa is back, on the real stack."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from bot.stack import Stack, rasa_names
from tests.e2e.chat import Customer
from texts import say

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANSWER_WITHIN_S = 60.0  # Rasa's start and a round of the redelivery loop (every 5 s)


def rasa_is_up(stack: Stack) -> bool:
    """Whether any Rasa process answers (at scale there are two)."""
    for url in stack.config.rasa_urls:
        try:
            response = httpx.get(f"{url}/status", params={"token": stack.rasa_token}, timeout=1)
        except httpx.HTTPError:
            continue
        if response.status_code == 200:
            return True
    return False


def after_the_apology(messages: list[dict[str, object]]) -> list[str]:
    texts = [str(m["text"]) for m in messages]
    return texts[texts.index(say("assistant_down", "en")) + 1 :]


def test_a_message_sent_while_rasa_is_down_is_answered_once_when_it_is_back(
    stack: Stack,
) -> None:
    jane = Customer(stack.config.service_url, "en").open()
    # Every Rasa process down (at scale, both).
    downs = [
        threading.Thread(target=stack.restart, args=(name,), kwargs={"down_s": 5.0})
        for name in rasa_names(len(stack.config.rasa_urls))
    ]
    for down in downs:
        down.start()
    try:
        deadline = time.monotonic() + 30
        while rasa_is_up(stack) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not rasa_is_up(stack)
        replies = jane.say("How long does a refund take?")
    finally:
        for down in downs:
            down.join()

    assert [r["text"] for r in replies] == [say("assistant_down", "en")]
    deadline = time.monotonic() + ANSWER_WITHIN_S
    while not after_the_apology(jane.transcript_from_server()) and time.monotonic() < deadline:
        time.sleep(1)
    answered = after_the_apology(jane.transcript_from_server())
    assert answered, "no answer after Rasa came back"
    assert any("refund" in text.lower() for text in answered)

    time.sleep(7)  # another round of the redelivery loop: nothing is answered twice
    assert after_the_apology(jane.transcript_from_server()) == answered
