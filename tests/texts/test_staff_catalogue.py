"""The staff catalogue: every text in every language with the same placeholders, and a text
for every key the consoles ask for (statically, from their sources)."""

from __future__ import annotations

import re
from typing import get_args

import pytest

from bot.analytics.kpis import KPI_UNITS
from bot.api.schemas.reports import Outcome
from bot.api.schemas.retrieval import CalibrationStatus
from bot.handoff.schemas import PriorityPartsPublic, QueueFilter, Reason
from kb.store import _CONTENT_FIELDS
from retrieval.bands import ConfidenceBand
from retrieval.passages import PassageKind
from tests.conftest import REPO
from tests.texts.test_catalogue import placeholders
from texts import FALLBACK, LANGUAGES, STAFF
from texts.language import detect_language
from texts.staff import TEXTS

STATIC = REPO / "bot" / "web" / "static"
PLACEHOLDER = re.compile(r"\{\w+\}")
QUOTED_KEY = re.compile(r"""["'`]((?:console|reports|agent|editor)(?:\.[a-z_0-9]+)+)["'`]""")


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_staff_text_is_written_in_every_language(key: str) -> None:
    assert set(TEXTS[key]) == set(LANGUAGES)
    for language in LANGUAGES:
        text = TEXTS[key][language]
        assert text.strip(), f"{key} is empty in {language}"
        # Without its placeholders a text reads as its language, or as nothing ("{score} ★").
        assert detect_language(PLACEHOLDER.sub("", text)) in (language, None), (key, language)


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_language_of_a_staff_text_has_the_same_placeholders(key: str) -> None:
    english = placeholders(TEXTS[key][FALLBACK])
    for language in LANGUAGES:
        assert placeholders(TEXTS[key][language]) == english, f"{key} in {language}"


def test_a_staff_text_is_filled_in_the_language_asked() -> None:
    assert STAFF.say("reports.list.shown", "zh", count=3) == "共 3 个会话"
    assert STAFF.say("console.request_failed", "fr", status=500) == "Request failed (500)"


def keys_named_in(*files: str) -> set[str]:
    """Keys written out in the pages' sources: data-text="…" and "console.…", "agent.…"…"""
    found: set[str] = set()
    for name in files:
        source = (STATIC / name).read_text(encoding="utf-8")
        found |= set(re.findall(r'data-text(?:-[a-z-]+)?="(\w+(?:\.\w+)+)"', source))
        found |= set(QUOTED_KEY.findall(source))
    return found


def test_every_key_the_pages_name_is_in_the_catalogue() -> None:
    named = keys_named_in("console.js", "reports.js", "reports.html")
    assert len(named) > 50
    assert sorted(named - set(TEXTS)) == []


@pytest.mark.parametrize("console", ["agent", "editor"])
def test_every_key_the_agent_and_editor_consoles_name_is_in_the_catalogue(console: str) -> None:
    named = keys_named_in(f"{console}.js", f"{console}.html")
    if console == "agent":  # the canned replies are a script of their own
        named |= keys_named_in("agent-canned.js")
    assert len({key for key in named if key.startswith(f"{console}.")}) > 25
    # A prefix the page completes with a value (label("reports.band", band)) names a family.
    families = {key.rsplit(".", 1)[0] for key in TEXTS}
    assert sorted(named - set(TEXTS) - families) == []


@pytest.mark.parametrize("console", ["agent", "agent-canned", "editor"])
def test_the_consoles_write_no_english_of_their_own(console: str) -> None:
    """A sentence in a page's source outside a comment is a text the catalogue does not have."""
    source = (STATIC / f"{console}.js").read_text(encoding="utf-8")
    code = re.sub(
        r"^\s*//.*$|\s//.*$", "", re.sub(r"/\*.*?\*/", "", source, flags=re.S), flags=re.M
    )
    sentences = re.findall(r"""["'`]([A-Z][a-z]+ [a-z]+[^"'`\n]*)["'`]""", code)
    assert sentences == []


@pytest.mark.parametrize(
    ("prefix", "values"),
    [
        ("reports.kpi", list(KPI_UNITS)),
        ("reports.outcome", list(get_args(Outcome))),
        ("reports.reason", list(get_args(Reason))),
        ("reports.band", [band.value for band in ConfidenceBand]),
        ("reports.handoff_status", [s for s in get_args(QueueFilter) if s != "open"]),
        ("reports.sender", ["customer", "bot", "agent", "system"]),
        ("reports.resolved_by", ["bot", "agent"]),
        ("reports.language", list(LANGUAGES)),
        ("reports.channel", ["widget", "email"]),
        ("console.role", ["agent", "editor", "supervisor", "admin"]),
        ("agent.conn", ["connecting", "live", "down", "offline"]),
        ("agent.online", ["one", "other"]),
        ("agent.priority", list(PriorityPartsPublic.model_fields)),
        ("agent.feedback", ["helpful", "not_helpful", "none"]),
        ("agent.filter", ["open", "resolved", "returned"]),  # the queue's <select>
        ("editor.language", list(LANGUAGES)),
        ("editor.status", ["draft", "published", "archived", "new"]),
        ("editor.filter", ["draft", "published", "archived"]),
        ("editor.saved", ["draft", "published", "archived"]),
        ("editor.band", [band.value for band in ConfidenceBand]),
        ("editor.kind", list(get_args(PassageKind))),
        ("editor.field", [*_CONTENT_FIELDS, "translation_of"]),
        ("editor.gaps.reason", ["none", "not_helpful", "handoff"]),
        ("editor.calibration.status", list(get_args(CalibrationStatus))),
        ("editor.gaps.unanswered", ["one", "other"]),
        ("editor.gaps.groups", ["one", "other"]),
        ("editor.count.questions", ["one", "other"]),
        ("editor.count.articles", ["one", "other"]),
        ("editor.confusable.count", ["one", "other"]),
    ],
)
def test_every_value_the_pages_name_by_pattern_has_a_text(prefix: str, values: list[str]) -> None:
    # reports.js writes these as t(`reports.kpi.${name}`): a new KPI or reason needs its label.
    assert sorted(f"{prefix}.{v}" for v in values if f"{prefix}.{v}" not in TEXTS) == []
