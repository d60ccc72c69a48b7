"""One detector decides every message's language, by the dominant language."""

from __future__ import annotations

import pytest

from texts.language import detect_language, language_of


@pytest.mark.parametrize(
    "text",
    [
        "我想退货",
        "iPhone 15 怎么退货",
        "我的refund怎么还没到账",
        "order能cancel吗",
        "password忘了怎么办",
        "可以用paypal付款吗",
        "付款被扣了兩次錢",  # Traditional script is Chinese too
    ],
)
def test_chinese_and_chinese_with_english_words_is_chinese(text: str) -> None:
    assert detect_language(text) == "zh"


@pytest.mark.parametrize(
    "text",
    [
        "How long does a refund take?",
        "Where is my 订单 #123",  # English around one Chinese word
        "cancle my oder pls",
        "my iPhone 15 Pro Max",
    ],
)
def test_english_and_english_around_a_chinese_word_is_english(text: str) -> None:
    assert detect_language(text) == "en"


def test_a_message_with_nothing_to_tell_by_has_no_language() -> None:
    assert detect_language("12345 !!! 👍") is None
    assert detect_language("") is None
    assert language_of("👍") == "en"
    assert language_of("👍", default="zh") == "zh"
