"""Text every database can store, and names that cannot reorder the text around them."""

from __future__ import annotations

import pytest

from db.text import display_name

RLO, PDF, RLI, PDI, RLM = "\u202e", "\u202c", "\u2067", "\u2069", "\u200f"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (f"{RLO}nimda", "nimda"),  # would show as "admin", and reverse what follows it
        (f"Ann{RLI} {PDF}Lee{PDI}", "Ann Lee"),
        ("\u202a\u202b\u202d\u2066\u2068Bo", "Bo"),
        ("  Ann  ", "Ann"),
    ],
)
def test_a_name_loses_the_explicit_bidirectional_controls(given: str, shown: str) -> None:
    assert display_name(given) == shown


@pytest.mark.parametrize("name", ["مريم العلي", "דוד לוי", f"Ann {RLM}(مريم)", "王小明"])
def test_right_to_left_and_other_scripts_stay_as_written(name: str) -> None:
    assert display_name(name) == name
