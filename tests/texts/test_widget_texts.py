"""The widget's own interface texts (bot/web/static/widget.js, STRINGS): the same keys in each
language, each language written in itself, and the article card's label the customer catalogue's."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO
from texts import CUSTOMER
from texts.language import detect_language

WIDGET = (REPO / "bot" / "web" / "static" / "widget.js").read_text(encoding="utf-8")


def widget_strings(language: str) -> dict[str, str]:
    """The plain string texts of one language's block of STRINGS (functions left out)."""
    block = re.search(rf"\n    {language}: \{{\n(.*?)\n    \}},", WIDGET, re.S)
    assert block is not None, f"no {language} block in STRINGS"
    return dict(re.findall(r'^\s+(\w+): "([^"]*)",$', block.group(1), re.M))


def test_every_widget_text_is_written_in_both_languages() -> None:
    english, chinese = widget_strings("en"), widget_strings("zh")
    assert len(english) > 15
    assert set(english) == set(chinese)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_no_widget_text_is_left_in_the_other_language(language: str) -> None:
    # "：" and ": " read as nothing: punctuation has no language.
    wrong = {
        key: text
        for key, text in widget_strings(language).items()
        if detect_language(text) not in (language, None)
    }
    assert wrong == {}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_article_card_says_what_the_catalogue_says(language: str) -> None:
    assert widget_strings(language)["readMore"] == CUSTOMER.say("read_more", language)


def test_the_card_label_is_the_interfaces_not_the_conversations() -> None:
    # The bot labels a card in the conversation's language; a zh page showed "Full article：…".
    assert "a.label" not in WIDGET
    assert re.search(r"const label = t\.readMore;", WIDGET)


# "Email me this conversation": the widget's texts are the customer catalogue's.
TRANSCRIPT_TEXTS = {
    "menu": "transcript_menu",
    "transcriptAction": "transcript_action",
    "transcriptAddress": "transcript_address",
    "transcriptSend": "transcript_send",
    "transcriptCancel": "transcript_cancel",
    "transcriptInvalid": "transcript_invalid",
    "transcriptThrottled": "transcript_throttled",
    "transcriptThrottledAddress": "transcript_throttled_address",
    "transcriptOff": "transcript_off",
    "transcriptRetry": "transcript_retry",
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_transcript_texts_are_the_catalogues(language: str) -> None:
    strings = widget_strings(language)
    for key, catalogue_key in TRANSCRIPT_TEXTS.items():
        assert strings[key] == CUSTOMER.say(catalogue_key, language), key
    block = re.search(rf"\n    {language}: \{{\n(.*?)\n    \}},", WIDGET, re.S)
    assert block is not None
    sent = re.search(r"transcriptSent: \(email\) => `([^`]*)`,", block.group(1))
    assert sent is not None
    assert (
        sent.group(1).replace("${email}", "{email}") == CUSTOMER.texts["transcript_sent"][language]
    )
