"""Splitting an article into indexed units: title, alternative questions, body passages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

PassageKind = Literal["title", "question", "body"]

_MAX_PASSAGE_CHARS = 320
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_BLOCK = re.compile(r"^\s*(?:[#>*\-+]+|\d+\.)\s+", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"[*_`~]+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*")


class IndexableArticle(Protocol):
    """What retrieval needs of an article; kb's ArticleSnapshot satisfies it."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def questions(self) -> list[str]: ...
    @property
    def language(self) -> str: ...
    @property
    def status(self) -> str: ...


def topic_of(article: IndexableArticle) -> str:
    """The article's topic (its translations share it); its own id when it has none."""
    return str(getattr(article, "topic_id", None) or article.id)


@dataclass(frozen=True, slots=True)
class Passage:
    """One indexed unit of an article, at the article version it was taken from."""

    article_id: str
    version: int
    kind: PassageKind
    text: str
    language: str
    topic_id: str = ""  # the article's topic; "" in an index written before topics


def plain_text(markdown: str) -> str:
    """Markdown reduced to its words, for embedding and display of matched passages."""
    text = _MD_LINK.sub(r"\1", markdown)
    text = _MD_EMPHASIS.sub("", _MD_BLOCK.sub("", text))
    return re.sub(r"[ \t]+", " ", text).strip()


def answer_text(markdown: str) -> str:
    """The article's direct answer: its first paragraph that is not a heading, as plain text."""
    for paragraph in re.split(r"\n\s*\n", markdown.strip()):
        if paragraph.lstrip().startswith("#"):
            continue
        text = plain_text(paragraph)
        if text:
            return text
    return ""


def _chunks(paragraph: str) -> list[str]:
    if len(paragraph) <= _MAX_PASSAGE_CHARS:
        return [paragraph]
    chunks: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        if current and len(current) + len(sentence) > _MAX_PASSAGE_CHARS:
            chunks.append(current.strip())
            current = ""
        current += sentence + " "
    if current.strip():
        chunks.append(current.strip())
    return chunks


def article_passages(article: IndexableArticle) -> list[Passage]:
    """Title, each alternative question, then the body split into paragraph-sized passages."""

    topic = topic_of(article)

    def make(kind: PassageKind, text: str) -> Passage:
        return Passage(article.id, article.version, kind, text, article.language, topic)

    passages = [make("title", article.title.strip())]
    passages += [make("question", q.strip()) for q in article.questions if q.strip()]
    for paragraph in re.split(r"\n\s*\n", article.body):
        text = plain_text(paragraph)
        if len(text) >= 2:
            passages += [make("body", chunk) for chunk in _chunks(text)]
    return passages
