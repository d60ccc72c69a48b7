"""Import articles from JSON Lines or a folder of Markdown files; export them as JSON Lines.

Each line (or file) is validated completely before it is written and committed on its own,
so a bad line is reported and skipped, never half imported, and never stops the others.

Translation links (``translation_of``) are checked for the import as a whole, after every
article of it is known (a link may point forward in the file) and before anything is written:
a link to an unknown id, or one that would put two articles of one language in a topic,
refuses the whole import (``ImportRefusedError``, each problem with its ``file:line``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kb.errors import TranslationError
from kb.files import write_atomically
from kb.schemas import ArticleIn, ArticleSnapshot, ArticleStatus
from kb.store import ArticleStore
from kb.topics import TopicMember, place

Progress = Callable[[int, int], None]
MAX_LINE_BYTES = 200_000
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


class ImportSourceError(ValueError):
    """The import source as a whole cannot be read (missing, not UTF-8, wrong kind)."""


class ImportRefusedError(ImportSourceError):
    """The import's translation links do not hold; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems  # "file:line: reason" (the file name, for Markdown)
        super().__init__("; ".join(problems) + " (nothing was imported)")


@dataclass(frozen=True, slots=True)
class _Record:
    location: str  # "line 7" or "refund.md", in the report
    where: str  # "kb.jsonl:7" or "refund.md", in a refusal
    content: dict[str, Any] | str  # the fields, or why they cannot be read


@dataclass(frozen=True, slots=True)
class _Valid:
    index: int  # its place in the source
    record: _Record
    article: ArticleIn


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
        elif where == "translation_of" and kind == "string_pattern_mismatch":
            reasons.append(
                f"invalid translation_of {problem['input']!r} (the id of another article)"
            )
        else:
            reasons.append(f"'{where}': {problem['msg']}")
    return "; ".join(reasons)


def _jsonl_records(path: Path, named: bool = False) -> Iterator[_Record]:
    """Each non-blank line: its fields, or the reason they cannot be read. ``named``: the
    location says the file too ("faq.jsonl line 3"), for an import of several files."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of line 1
    except UnicodeDecodeError as error:
        raise ImportSourceError(f"{path}: not UTF-8 text ({error.reason})") from error
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        location = f"{path.name} line {number}" if named else f"line {number}"
        where = f"{path.name}:{number}"
        if len(line.encode("utf-8")) > MAX_LINE_BYTES:
            yield _Record(location, where, f"line too long (over {MAX_LINE_BYTES} bytes)")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            yield _Record(location, where, f"invalid JSON: {error.msg} at column {error.colno}")
            continue
        if not isinstance(record, dict):
            yield _Record(location, where, "expected a JSON object")
            continue
        yield _Record(location, where, record)


def _folder_records(folder: Path) -> Iterator[_Record]:
    """The folder's .md files (one article each), then its JSONL files, in name order."""
    for path in sorted(folder.glob("*.md")):
        yield _markdown_record(path)
    for path in sorted(p for p in folder.iterdir() if p.suffix in JSONL_SUFFIXES):
        yield from _jsonl_records(path, named=True)


def _markdown_record(path: Path) -> _Record:
    """The front matter's fields and the body after it, or the reason they cannot be read."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return _Record(name, name, "not UTF-8 text")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return _Record(name, name, "missing front matter (a '---' line must open the file)")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        return _Record(name, name, "front matter is not closed by a '---' line")
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as error:
        return _Record(name, name, f"invalid front matter: {str(error).splitlines()[0]}")
    if not isinstance(meta, dict):
        return _Record(name, name, "front matter must be a mapping of keys to values")
    meta.setdefault("id", path.stem)
    if "body" in meta:
        return _Record(name, name, "the body goes after the front matter, not in it")
    meta["body"] = "\n".join(lines[end + 1 :]).strip()
    return _Record(name, name, meta)


def import_path(
    path: Path, store: ArticleStore, author: str | None = None, progress: Progress | None = None
) -> ImportReport:
    """Upsert every valid article of ``path`` (a .jsonl file or a folder of .md files).

    Raises ``ImportRefusedError``, having written nothing, when its translation links do not
    hold."""
    if not path.exists():
        raise ImportSourceError(f"{path}: no such file or folder")
    if path.is_dir():
        records = list(_folder_records(path))
    elif path.suffix in JSONL_SUFFIXES:
        records = list(_jsonl_records(path))
    else:
        raise ImportSourceError(f"{path}: expected a .jsonl file or a folder of .md files")
    entries: dict[int, ImportEntry] = {}
    valid: list[_Valid] = []
    seen: dict[str, str] = {}
    for index, record in enumerate(records):
        checked = _validate(record, seen)
        if isinstance(checked, ImportEntry):
            entries[index] = checked
        else:
            valid.append(_Valid(index, record, checked))
    rejected = {e.article_id for e in entries.values() if e.article_id} - set(seen)
    ordered = _check_translations(valid, store, rejected)
    for done, item in enumerate(ordered, start=1):
        entries[item.index] = _write(item, store, author)
        if progress:
            progress(done, len(ordered))
    return ImportReport([entries[index] for index in sorted(entries)])


def _validate(record: _Record, seen: dict[str, str]) -> ArticleIn | ImportEntry:
    """The article of a record, or the entry saying why it is rejected."""
    location, content = record.location, record.content
    if isinstance(content, str):
        return ImportEntry(location, None, "rejected", content)
    raw_id = content.get("id") if isinstance(content.get("id"), str) else None
    try:
        article = ArticleIn.model_validate(content)
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
    return article


class _PlannedTopics:
    """The topics as they will be once the import is written (``kb.topics.TopicView``)."""

    def __init__(self, members: Iterable[TopicMember]) -> None:
        self._members = {m.id: m for m in members}
        self._topics: dict[str, set[str]] = {}
        for member in self._members.values():
            self._topics.setdefault(member.topic_id, set()).add(member.id)

    def member(self, article_id: str) -> TopicMember | None:
        return self._members.get(article_id)

    def members(self, topic_id: str) -> list[TopicMember]:
        return [self._members[i] for i in sorted(self._topics.get(topic_id, ()))]

    def put(self, article_id: str, language: str, topic_id: str) -> None:
        old = self._members.get(article_id)
        if old is not None:
            self._topics[old.topic_id].discard(article_id)
        self._members[article_id] = TopicMember(article_id, language, topic_id)
        self._topics.setdefault(topic_id, set()).add(article_id)


def _check_translations(
    valid: list[_Valid], store: ArticleStore, rejected: set[str]
) -> list[_Valid]:
    """The articles in the order they are written (an article after the one it translates),
    once every link is known to hold; raises ``ImportRefusedError`` otherwise."""
    problems: list[tuple[int, str]] = []  # (place in the source, "where: reason")
    ordered, circular = _write_order(valid, problems)
    topics = _PlannedTopics(store.topic_members())
    for item in ordered:
        article, language = item.article, item.article.language.value
        link = article.link()
        current = topics.member(article.id)
        unchanged = current.topic_id if current is not None else article.id
        if article.id in circular:
            topics.put(article.id, language, unchanged)
            continue
        if isinstance(link, str) and link != article.id and topics.member(link) is None:
            why = " (its own line was rejected)" if link in rejected else ""
            problems.append(
                (
                    item.index,
                    f"{item.record.where}: translation_of {link!r}: no article in this import "
                    f"or the knowledge base has that id{why}",
                )
            )
            topics.put(article.id, language, unchanged)
            continue
        try:
            placed = place(article.id, language, link, topics)
        except TranslationError as error:
            problems.append((item.index, f"{item.record.where}: {error}"))
            topics.put(article.id, language, unchanged)
            continue
        topics.put(article.id, language, placed)
    if problems:
        raise ImportRefusedError([problem for _, problem in sorted(problems)])
    return ordered


def _write_order(
    valid: list[_Valid], problems: list[tuple[int, str]]
) -> tuple[list[_Valid], set[str]]:
    """Every article after the one of this import it translates; the ids on a circle of links
    (a → b → a) are reported and set apart."""
    by_id = {item.article.id: item for item in valid}
    ordered: list[_Valid] = []
    placed: set[str] = set()
    circular: set[str] = set()
    for start in valid:
        chain: list[_Valid] = []  # the links from ``start`` to an article already placed
        on_chain: dict[str, int] = {}
        item: _Valid | None = start
        while item is not None and item.article.id not in placed:
            if item.article.id in on_chain:
                circle = chain[on_chain[item.article.id] :]
                names = " → ".join(repr(i.article.id) for i in [*circle, item])
                problems.append(
                    (
                        item.index,
                        f"{item.record.where}: translation links go round in a circle "
                        f"({names}); link each translation to one article",
                    )
                )
                circular.update(i.article.id for i in circle)
                break
            on_chain[item.article.id] = len(chain)
            chain.append(item)
            link = item.article.link()
            item = by_id.get(link) if isinstance(link, str) and link != item.article.id else None
        for linked in reversed(chain):
            placed.add(linked.article.id)
            ordered.append(linked)
    return ordered, circular


def _write(item: _Valid, store: ArticleStore, author: str | None) -> ImportEntry:
    location, article = item.record.location, item.article
    try:
        outcome = store.upsert(article, author)
        store.session.commit()
    except Exception as error:  # a database error must not stop the remaining lines
        store.session.rollback()
        return ImportEntry(location, article.id, "rejected", f"could not be saved: {error}")
    return ImportEntry(location, article.id, outcome.result.value)


def export_lines(articles: Sequence[ArticleSnapshot]) -> list[str]:
    """The import format of ``articles``: one JSON object a line. In each topic, the articles
    other than the one it is named after (or, if that one is not exported, the first by id)
    carry ``translation_of`` naming it, so that importing the lines rebuilds the topics."""
    exported = {a.id for a in articles}
    heads: dict[str, str] = {}
    for article in sorted(articles, key=lambda a: a.id):
        head = article.topic_id if article.topic_id in exported else article.id
        heads.setdefault(article.topic_id, head)
    lines = []
    for article in articles:
        record = article.content()
        if heads[article.topic_id] != article.id:
            record["translation_of"] = heads[article.topic_id]
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return lines


def export_jsonl(path: Path, store: ArticleStore, status: ArticleStatus | None = None) -> int:
    """Write the latest version of every article (sorted by id) atomically; returns the count."""
    articles = store.articles(status=status)
    write_atomically(path, "".join(export_lines(articles)).encode("utf-8"))
    return len(articles)
