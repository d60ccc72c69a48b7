"""The reply token: a conversation's, recovered from the reply address; forgeries refused."""

from __future__ import annotations

import uuid

import pytest

from bot.mail.tokens import (
    conversation_from_address,
    conversation_from_token,
    reply_address,
    reply_token,
)

SECRET = "k7Qz-2mVx_9pLr4TsY8uWn3oBc6eHd1fJg5"
SUPPORT = "support@shop.test"


def test_a_reply_address_names_its_conversation() -> None:
    conversation = str(uuid.uuid4())
    address = reply_address(SUPPORT, conversation, SECRET)
    local, _, domain = address.partition("@")
    assert domain == "shop.test" and local.startswith("support+")
    assert len(local) <= 64  # RFC 5321's local part
    assert conversation_from_address(address, SUPPORT, SECRET) == conversation
    # Mail systems may change the case of a local part.
    assert conversation_from_address(address.upper(), SUPPORT, SECRET) == conversation


def test_the_token_is_not_the_widgets_conversation_token() -> None:
    from bot.api.deps import conversation_token

    conversation = str(uuid.uuid4())
    widget = conversation_token(SECRET, conversation)
    assert widget not in reply_address(SUPPORT, conversation, SECRET)
    assert reply_token(conversation, SECRET) != reply_token(conversation, SECRET + "x")


def flip(text: str, position: int) -> str:
    replacement = "a" if text[position] != "a" else "b"
    return text[:position] + replacement + text[position + 1 :]


@pytest.mark.parametrize("position", range(42))
def test_any_altered_character_is_refused(position: int) -> None:
    conversation = str(uuid.UUID(int=12345))
    token = reply_token(conversation, SECRET)
    assert conversation_from_token(token, SECRET) == conversation
    assert conversation_from_token(flip(token, position), SECRET) is None


@pytest.mark.parametrize(
    "token",
    ["", "x", "!" * 42, reply_token(str(uuid.UUID(int=7)), "another secret"), "a" * 43],
)
def test_forged_or_malformed_tokens_name_nothing(token: str) -> None:
    assert conversation_from_token(token, SECRET) is None


def test_other_addresses_name_nothing() -> None:
    conversation = str(uuid.uuid4())
    token = reply_token(conversation, SECRET)
    assert conversation_from_address(SUPPORT, SUPPORT, SECRET) is None
    assert conversation_from_address(f"sales+{token}@shop.test", SUPPORT, SECRET) is None
    assert conversation_from_address(f"support+{token}@evil.test", SUPPORT, SECRET) is None
    assert conversation_from_address("not an address", SUPPORT, SECRET) is None
