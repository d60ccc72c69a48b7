"""What Rasa says itself (domain.yml responses) is said in both languages, like the rest."""

from __future__ import annotations

from pathlib import Path

import yaml

DOMAIN = Path(__file__).resolve().parents[2] / "domain.yml"


def test_every_response_has_a_chinese_and_an_english_variation() -> None:
    responses = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))["responses"]
    for name, variations in responses.items():
        chinese = [
            v
            for v in variations
            if {"type": "slot", "name": "language", "value": "zh"} in (v.get("condition") or [])
        ]
        default = [v for v in variations if not v.get("condition")]
        assert len(chinese) == 1 and len(default) == 1, name
        assert chinese[0]["text"].strip() and default[0]["text"].strip(), name


def test_every_form_has_what_action_resume_form_says() -> None:
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    for form, spec in domain["forms"].items():
        assert f"utter_leave_{form}" in domain["responses"], form
        for slot in spec["required_slots"]:
            assert f"utter_ask_{slot}" in domain["responses"], slot
