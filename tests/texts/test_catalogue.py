"""The customer text catalogue, and the Rasa responses in domain.yml: every text in every
language Kefu speaks, with the same placeholders, and English for anything else."""

from __future__ import annotations

import string
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from texts import FALLBACK, LANGUAGES, Catalogue, language_or_fallback, say
from texts.customer import TEXTS
from texts.language import language_of as detect_language


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def domain_responses() -> dict[str, list[dict[str, Any]]]:
    domain = yaml.safe_load((REPO / "domain.yml").read_text(encoding="utf-8"))
    responses: dict[str, list[dict[str, Any]]] = domain["responses"]
    return responses


def variant_language(variant: dict[str, Any]) -> str:
    """The language a response variation is for: its condition on the ``language`` slot, or
    the default (English) when it has no condition."""
    conditions = variant.get("condition") or []
    languages = [
        c["value"] for c in conditions if c.get("type") == "slot" and c.get("name") == "language"
    ]
    assert len(languages) == len(conditions) <= 1, f"unexpected condition {conditions}"
    return languages[0] if languages else FALLBACK


# -- the catalogue ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_text_is_written_in_every_language(key: str) -> None:
    assert set(TEXTS[key]) == set(LANGUAGES)
    for language in LANGUAGES:
        text = TEXTS[key][language]
        assert text.strip(), f"{key} is empty in {language}"
        assert detect_language(text) == language, f"{key}[{language}] reads as another language"


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_language_of_a_text_has_the_same_placeholders(key: str) -> None:
    english = placeholders(TEXTS[key][FALLBACK])
    for language in LANGUAGES:
        assert placeholders(TEXTS[key][language]) == english, f"{key} in {language}"


def test_say_fills_the_placeholders_in_the_language_asked() -> None:
    assert say("queue_position", "zh", position=3) == "您目前排在第 3 位，人工客服马上就来。"
    assert say("agent_joined", "en", name="Alice") == "Alice has joined the chat."


@pytest.mark.parametrize("language", [None, "", "fr"])
def test_an_unknown_or_missing_language_falls_back_to_english(language: str | None) -> None:
    assert language_or_fallback(language) == "en"
    assert say("assistant_down", language) == TEXTS["assistant_down"]["en"]


def test_a_missing_placeholder_value_is_an_error_not_a_half_text() -> None:
    with pytest.raises(KeyError):
        say("queue_position", "en")


def test_an_unknown_key_is_an_error() -> None:
    with pytest.raises(KeyError):
        Catalogue(TEXTS).say("no_such_text", "en")


# -- the Rasa responses ----------------------------------------------------------------------


def test_domain_has_responses() -> None:
    assert any(name.startswith("utter_") for name in domain_responses())


@pytest.mark.parametrize("name", sorted(domain_responses()))
def test_every_response_has_a_text_in_every_language(name: str) -> None:
    variants = domain_responses()[name]
    by_language: dict[str, list[str]] = {}
    for variant in variants:
        by_language.setdefault(variant_language(variant), []).append(variant.get("text") or "")

    assert set(by_language) == set(LANGUAGES), f"{name} has {sorted(by_language)}"
    # Rasa answers with the default variation when no condition matches: there is one.
    assert sum(1 for v in variants if not v.get("condition")) == 1
    for language, written in by_language.items():
        for text in written:
            assert text.strip(), f"{name} has an empty {language} text"
            assert detect_language(text) == language, f"{name}: {text!r} is not {language}"


@pytest.mark.parametrize("name", sorted(domain_responses()))
def test_every_language_of_a_response_carries_the_same_custom_part(name: str) -> None:
    # The gateway reads custom.end_of_chat to ask for a rating; a goodbye in one language
    # only would never ask customers of the other.
    customs = {variant_language(v): v.get("custom") for v in domain_responses()[name]}
    assert len({repr(c) for c in customs.values()}) == 1, f"{name}: {customs}"
