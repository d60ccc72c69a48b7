"""Import articles from JSON Lines or a folder of Markdown files; export them as JSON Lines.

Each line (or file) is validated completely before it is written and committed on its own,
so a bad line is reported and skipped, never half imported, and never stops the others.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kb.files import write_atomically
from kb.schemas import ArticleIn, ArticleStatus
from kb.store import ArticleStore

Progress = Callable[[int, int], None]
MAX_LINE_BYTES = 200_000


class ImportSourceError(ValueError):
    """The import source as a whole cannot be read (missing, not UTF-8, wrong kind)."""


@dataclass(frozen=True, slots=True)
class ImportEntry:
    location: str  # "line 7" or "refund.md"
    article_id: str | None
    outcome: str  # created / updated / unchanged / rejected
    reason: str = ""


@dataclass(slots=True)
class ImportReport:
    entries: list[ImportEntry] = field(default_factory=list)

    @property
    def rejected(self) -> list[ImportEntry]:
        return [e for e in self.entries if e.outcome == "rejected"]

    def counts(self) -> dict[str, int]:
        counts = Counter(e.outcome for e in self.entries)
        order = ("created", "updated", "unchanged", "rejected")
        return {outcome: counts[outcome] for outcome in order if counts[outcome]}


def _describe(error: ValidationError) -> str:
    """One readable sentence per problem, e.g. "missing field 'title'"."""
    reasons = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        kind = problem["type"]
        if kind == "missing":
            reasons.append(f"missing field '{where}'")
        elif kind == "extra_forbidden":
            reasons.append(f"unknown field '{where}'")
        elif kind == "string_too_short" and problem.get("ctx", {}).get("min_length") == 1:
            reasons.append(f"'{where}' is empty")
        elif kind == "too_long" or kind == "string_too_long":
            reasons.append(f"'{where}' is too long ({problem['msg'].lower()})")
        elif where == "language" and kind == "enum":
            reasons.append(f"unknown language {problem['input']!r} (expected zh or en)")
        elif where == "status" and kind == "enum":
            reasons.append(
                f"unknown status {problem['input']!r} (expected draft, published or archived)"
            )
        elif where == "id" and kind == "string_pattern_mismatch":
            reasons.append(
                f"invalid id {problem['input']!r} (lowercase letters, digits and hyphens)"
            )
        else:
            reasons.append(f"'{where}': {problem['msg']}")
    return "; ".join(reasons)


def _jsonl_records(path: Path) -> Iterator[tuple[str, dict[str, Any] | str]]:
    """(location, record or the reason it cannot be parsed) for each non-blank line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ImportSourceError(f"{path}: not UTF-8 text ({error.reason})") from error
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        location = f"line {number}"
        if len(line.encode("utf-8")) > MAX_LINE_BYTES:
            yield location, f"line too long (over {MAX_LINE_BYTES} bytes)"
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield location, f"invalid JSON: {error.msg} at column {error.colno}"
            continue
        if not isinstance(record, dict):
            yield location, "expected a JSON object"
            continue
        yield location, record


def _markdown_records(folder: Path) -> Iterator[tuple[str, dict[str, Any] | str]]:
    for path in sorted(folder.glob("*.md")):
        location = path.name
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            yield location, "not UTF-8 text"
            continue
        lines = text.splitlines()
        if not lines or lines[0].strip() != "---":
            yield location, "missing front matter (a '---' line must open the file)"
            continue
        try:
            end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
        except StopIteration:
            yield location, "front matter is not closed by a '---' line"
            continue
        try:
            meta = yaml.safe_load("\n".join(lines[1:end])) or {}
        except yaml.YAMLError as error:
            yield location, f"invalid front matter: {str(error).splitlines()[0]}"
            continue
        if not isinstance(meta, dict):
            yield location, "front matter must be a mapping of keys to values"
            continue
        meta.setdefault("id", path.stem)
        if "body" in meta:
            yield location, "the body goes after the front matter, not in it"
            continue
        meta["body"] = "\n".join(lines[end + 1 :]).strip()
        yield location, meta


def import_path(
    path: Path, store: ArticleStore, author: str | None = None, progress: Progress | None = None
) -> ImportReport:
    """Upsert every valid article of ``path`` (a .jsonl file or a folder of .md files)."""
    if not path.exists():
        raise ImportSourceError(f"{path}: no such file or folder")
    if path.is_dir():
        records = list(_markdown_records(path))
    elif path.suffix in (".jsonl", ".ndjson", ".json"):
        records = list(_jsonl_records(path))
    else:
        raise ImportSourceError(f"{path}: expected a .jsonl file or a folder of .md files")
    report = ImportReport()
    seen: dict[str, str] = {}
    for done, (location, record) in enumerate(records, start=1):
        report.entries.append(_import_one(location, record, store, author, seen))
        if progress:
            progress(done, len(records))
    return report


def _import_one(
    location: str,
    record: dict[str, Any] | str,
    store: ArticleStore,
    author: str | None,
    seen: dict[str, str],
) -> ImportEntry:
    if isinstance(record, str):
        return ImportEntry(location, None, "rejected", record)
    raw_id = record.get("id") if isinstance(record.get("id"), str) else None
    try:
        article = ArticleIn.model_validate(record)
    except ValidationError as error:
        return ImportEntry(location, raw_id, "rejected", _describe(error))
    if article.id in seen:
        return ImportEntry(
            location,
            article.id,
            "rejected",
            f"duplicate id {article.id!r} (already at {seen[article.id]} of this import)",
        )
    seen[article.id] = location
    try:
        outcome = store.upsert(article, author)
        store.session.commit()
    except Exception as error:  # a database error must not stop the remaining lines
        store.session.rollback()
        return ImportEntry(location, article.id, "rejected", f"could not be saved: {error}")
    return ImportEntry(location, article.id, outcome.result.value)


def export_jsonl(path: Path, store: ArticleStore, status: ArticleStatus | None = None) -> int:
    """Write the latest version of every article (sorted by id) atomically; returns the count."""
    articles = store.articles(status=status)
    lines = [json.dumps(a.content(), ensure_ascii=False) + "\n" for a in articles]
    write_atomically(path, "".join(lines).encode("utf-8"))
    return len(articles)
