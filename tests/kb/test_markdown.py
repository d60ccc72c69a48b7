"""Article bodies are stored as Markdown only: HTML typed into one is removed on save."""

from __future__ import annotations

import pytest

from kb.markdown import strip_html


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("<script>alert(1)</script> **Bold**", "alert(1) **Bold**"),
        ("a < b and c > d", "a < b and c > d"),  # comparisons are text, not tags
        ("<!-- note --> text", " text"),
        # Removing one tag joins the pieces of another: again until nothing changes.
        ("<<script>script>x<</script>/script>", "x"),
        # A tag inside an attribute hides the outer tag until it is gone.
        ('"><iframe srcdoc="<script>alert(1)</script>">', '">'),
    ],
)
def test_html_typed_into_a_body_leaves_no_tag(typed: str, stored: str) -> None:
    assert strip_html(typed) == stored
