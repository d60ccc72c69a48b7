"""Canned replies: what an agent inserts with a ``/shortcut``, personal or shared, in English
or Chinese, and their placeholders.

A body may say ``{customer_name}``, ``{agent_name}`` and ``{article:<article-id>}`` (the
article's title and the link to its public page). Saving refuses any other placeholder and an
article that is not published; rendering for a handoff fills them in, and leaves an article
placeholder as it is if the article has gone since (docs/handoff.md#canned-replies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.auth.store import StaffUser
from bot.handoff.errors import HandoffForbiddenError, HandoffNotFoundError
from bot.handoff.models import CannedReply, Handoff
from bot.handoff.store import may_act
from db.base import utcnow
from db.text import Storable
from kb.schemas import SLUG_PATTERN, article_url
from kb.store import ArticleStore
from texts import say

SHORTCUT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
MAX_BODY_CHARS = 4000
MAX_LISTED = 500  # a team's replies in one list; more would not fit a picker anyway
PLACEHOLDER = re.compile(r"\{([^{}]{0,200})\}")
ARTICLE_PREFIX = "article:"
NAMED = ("customer_name", "agent_name")
_ARTICLE_ID = re.compile(SLUG_PATTERN)

ReplyLanguage = Literal["en", "zh"]
Shortcut = Annotated[str, StringConstraints(pattern=SHORTCUT_PATTERN, max_length=32)]
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), Storable
]
Body = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS), Storable
]


class CannedReplyNotFoundError(LookupError):
    pass


class CannedReplyForbiddenError(PermissionError):
    pass


class CannedReplyConflictError(RuntimeError):
    """Another reply of the same owner has this shortcut in this language."""


class CannedReplyInvalidError(ValueError):
    """A body with an unknown placeholder or an article that is not published."""


# -- schemas ----------------------------------------------------------------------------------


class CannedReplyCreate(BaseModel):
    shortcut: Shortcut
    language: ReplyLanguage
    title: Title
    body: Body
    shared: bool = False  # the whole team's (admins only)


class CannedReplyUpdate(BaseModel):
    shortcut: Shortcut | None = None
    language: ReplyLanguage | None = None
    title: Title | None = None
    body: Body | None = None


class CannedReplyPublic(BaseModel):
    id: int
    shortcut: str
    language: str
    title: str
    body: str
    shared: bool
    mine: bool  # the caller may edit it
    created_at: datetime
    updated_at: datetime


class CannedRepliesPublic(BaseModel):
    data: list[CannedReplyPublic] = Field(max_length=MAX_LISTED)
    count: int


class ArticleLinkPublic(BaseModel):
    article_id: str
    title: str
    url: str


class RenderedReplyPublic(BaseModel):
    """A canned reply filled in for one handoff; ``articles`` are the links it names, for the
    console to attach as cards."""

    text: str
    articles: list[ArticleLinkPublic] = Field(max_length=MAX_BODY_CHARS)


# -- placeholders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Placeholders:
    """The placeholders of a body: the article ids it names and anything unknown."""

    article_ids: list[str]
    unknown: list[str]

    @classmethod
    def of(cls, body: str) -> Placeholders:
        articles: list[str] = []
        unknown: list[str] = []
        for name in PLACEHOLDER.findall(body):
            if name.startswith(ARTICLE_PREFIX):
                articles.append(name.removeprefix(ARTICLE_PREFIX))
            elif name not in NAMED:
                unknown.append("{" + name + "}")
        return cls(list(dict.fromkeys(articles)), list(dict.fromkeys(unknown)))


def render(
    body: str,
    language: str,
    customer_name: str | None,
    agent_name: str,
    articles: ArticleStore,
) -> RenderedReplyPublic:
    """The body with its placeholders filled in; the customer's name falls back to a polite
    form of address in the reply's language, and an article no longer published stays as the
    placeholder's text (the agent sees it and fixes the reply)."""
    wanted = Placeholders.of(body).article_ids
    found = articles.published_among([i for i in wanted if _ARTICLE_ID.match(i)])
    values = {
        "customer_name": customer_name or say("customer_name_fallback", language),
        "agent_name": agent_name,
    }
    linked: dict[str, ArticleLinkPublic] = {}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values:
            return values[name]
        article = found.get(name.removeprefix(ARTICLE_PREFIX))
        if not name.startswith(ARTICLE_PREFIX) or article is None:
            return match.group(0)
        link = ArticleLinkPublic(
            article_id=article.id, title=article.title, url=article_url(article.id)
        )
        linked.setdefault(article.id, link)
        return f"{link.title} ({link.url})"

    return RenderedReplyPublic(text=PLACEHOLDER.sub(fill, body), articles=list(linked.values()))


# -- the store --------------------------------------------------------------------------------


class CannedReplies:
    """Canned replies over one session; commits its own writes (each is one request's work)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def visible(
        self, user: StaffUser, language: str | None = None, prefix: str | None = None
    ) -> list[CannedReplyPublic]:
        """The user's own replies and the shared ones; ``prefix`` starts the shortcut or the
        title (case-insensitively)."""
        query = select(CannedReply).where(
            or_(CannedReply.owner_id == user.id, CannedReply.owner_id.is_(None))
        )
        if language:
            query = query.where(CannedReply.language == language)
        if prefix:
            escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(
                or_(
                    CannedReply.shortcut.like(escaped + "%", escape="\\"),
                    func.lower(CannedReply.title).like(escaped + "%", escape="\\"),
                )
            )
        # Personal ones first: an agent's own /refund wins over the team's.
        query = query.order_by(
            CannedReply.shortcut, CannedReply.owner_id.is_(None), CannedReply.language
        ).limit(MAX_LISTED)
        return [self._public(row, user) for row in self.session.scalars(query)]

    def create(self, data: CannedReplyCreate, user: StaffUser) -> CannedReplyPublic:
        if data.shared and user.role != "admin":
            raise CannedReplyForbiddenError("shared canned replies are for admins")
        self._check_body(data.body)
        now = utcnow()
        row = CannedReply(
            owner_id=None if data.shared else user.id,
            shortcut=data.shortcut,
            language=data.language,
            title=data.title,
            body=data.body,
            created_at=now,
            updated_at=now,
        )
        self._check_unique(row)
        self.session.add(row)
        return self._save(row, user)

    def update(self, reply_id: int, data: CannedReplyUpdate, user: StaffUser) -> CannedReplyPublic:
        row = self._editable(reply_id, user)
        if data.body is not None:
            self._check_body(data.body)
        for field, value in data.model_dump(exclude_none=True).items():
            setattr(row, field, value)
        row.updated_at = utcnow()
        self._check_unique(row)
        return self._save(row, user)

    def delete(self, reply_id: int, user: StaffUser) -> None:
        self.session.delete(self._editable(reply_id, user))
        self.session.commit()

    def render_for(self, reply_id: int, handoff_id: int, user: StaffUser) -> RenderedReplyPublic:
        """The reply filled in for a handoff the user holds (an admin: any)."""
        row = self._visible_row(reply_id, user)
        handoff = self.session.get(Handoff, handoff_id)
        if handoff is None:
            raise HandoffNotFoundError(f"handoff {handoff_id} not found")
        if not may_act(handoff, user):
            raise HandoffForbiddenError(f"handoff {handoff_id} is held by another agent")
        return render(
            row.body, row.language, handoff.customer_name, user.name, ArticleStore(self.session)
        )

    # -- rules ----------------------------------------------------------------------------

    def _check_body(self, body: str) -> None:
        placeholders = Placeholders.of(body)
        if placeholders.unknown:
            raise CannedReplyInvalidError(
                f"unknown placeholder {', '.join(placeholders.unknown)}: use {{customer_name}}, "
                "{agent_name} or {article:<article-id>}"
            )
        ids = placeholders.article_ids
        found = ArticleStore(self.session).published_among([i for i in ids if _ARTICLE_ID.match(i)])
        missing = [i for i in ids if i not in found]
        if missing:
            raise CannedReplyInvalidError(f"no published article {', '.join(missing)[:300]}")

    def _check_unique(self, row: CannedReply) -> None:
        with self.session.no_autoflush:
            clash = self._clash(row)
        if clash is not None:
            conflict = self._conflict(row)  # before the rollback forgets the row's new values
            self.session.rollback()
            raise conflict

    def _clash(self, row: CannedReply) -> int | None:
        return self.session.scalars(
            select(CannedReply.id).where(
                CannedReply.owner_id.is_(None)
                if row.owner_id is None
                else CannedReply.owner_id == row.owner_id,
                CannedReply.shortcut == row.shortcut,
                CannedReply.language == row.language,
                CannedReply.id != (row.id or 0),
            )
        ).first()

    def _conflict(self, row: CannedReply) -> CannedReplyConflictError:
        whose = "a shared" if row.owner_id is None else "your"
        return CannedReplyConflictError(
            f"/{row.shortcut} is {whose} canned reply in {row.language} already"
        )

    def _save(self, row: CannedReply, user: StaffUser) -> CannedReplyPublic:
        try:
            self.session.commit()
        except IntegrityError as error:  # a concurrent save took the shortcut first
            conflict = self._conflict(row)
            self.session.rollback()
            raise conflict from error
        return self._public(row, user)

    def _visible_row(self, reply_id: int, user: StaffUser) -> CannedReply:
        row = self.session.get(CannedReply, reply_id)
        if row is None:
            raise CannedReplyNotFoundError(f"canned reply {reply_id} not found")
        if row.owner_id is not None and row.owner_id != user.id:
            raise CannedReplyForbiddenError(f"canned reply {reply_id} is another agent's")
        return row

    def _editable(self, reply_id: int, user: StaffUser) -> CannedReply:
        row = self._visible_row(reply_id, user)
        if row.owner_id is None and user.role != "admin":
            raise CannedReplyForbiddenError("shared canned replies are for admins to change")
        return row

    @staticmethod
    def _public(row: CannedReply, user: StaffUser) -> CannedReplyPublic:
        shared = row.owner_id is None
        return CannedReplyPublic(
            id=row.id,
            shortcut=row.shortcut,
            language=row.language,
            title=row.title,
            body=row.body,
            shared=shared,
            mine=row.owner_id == user.id or (shared and user.role == "admin"),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
