"""Topics: an article and its translations, one article per language.

An article's topic is its own id unless it is linked as a translation of another article; then
it takes that article's topic. The rule lives here once: the store applies it to the database
(``ArticleStore``), and an import checks every link of the file against it before it writes
anything (``kb.importer``).

A topic is named after one of its articles, which stays in it while it has translations (it
cannot be linked elsewhere before they are unlinked). So a linked article's topic is always
the id of an article of that topic, and a change moves one article only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

from kb.errors import TranslationConflictError, TranslationError


class Link(Enum):
    KEEP = "keep"  # the article stays in its topic (a new one gets its own)


TranslationLink = str | None | Literal[Link.KEEP]


@dataclass(frozen=True, slots=True)
class TopicMember:
    id: str
    language: str
    topic_id: str


class TopicView(Protocol):
    """Where the articles are: the database, or an import's plan of it."""

    def member(self, article_id: str) -> TopicMember | None: ...

    def members(self, topic_id: str) -> Iterable[TopicMember]: ...


def place(article_id: str, language: str, link: TranslationLink, view: TopicView) -> str:
    """The topic of the article after this change.

    ``link`` is the id of the article it translates, ``None`` for a topic of its own, or
    ``Link.KEEP``. Raises ``TranslationError`` (a link to itself or to an unknown id) or
    ``TranslationConflictError`` (two articles of one language in the topic; an article
    leaving its translations behind), before anything is changed.
    """
    current = view.member(article_id)
    own_topic = current.topic_id if current is not None else article_id
    if link is Link.KEEP:
        topic = own_topic
    elif link is None:
        topic = article_id
    else:
        topic = _linked_topic(article_id, link, own_topic, view)
    clash = next(
        (m for m in view.members(topic) if m.language == language and m.id != article_id), None
    )
    if clash is not None:
        raise TranslationConflictError(
            f"article {article_id!r} cannot be in one topic with {clash.id!r}: both are "
            f"{language} (a topic has one article per language)"
        )
    return topic


def _linked_topic(article_id: str, link: str, own_topic: str, view: TopicView) -> str:
    if link == article_id:
        raise TranslationError(f"article {article_id!r} cannot be a translation of itself")
    target = view.member(link)
    if target is None:
        raise TranslationError(
            f"article {article_id!r} cannot be a translation of {link!r}: no article has that id"
        )
    if own_topic == article_id and target.topic_id != own_topic:
        left = sorted(m.id for m in view.members(own_topic) if m.id != article_id)
        if left:
            raise TranslationConflictError(
                f"article {article_id!r} has translations of its own "
                f"({', '.join(map(repr, left))}); unlink them before linking it to {link!r}"
            )
    return target.topic_id
