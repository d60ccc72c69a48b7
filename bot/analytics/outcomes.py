"""Per-article outcomes from the bot's lookups: offered, answered confidently, marked helpful
or not, and followed by a handoff in the same conversation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.conversations.models import ArticleFeedback, KbLookup
from bot.handoff.models import Handoff
from bot.handoff.packet import OFFERED_BY_BAND


@dataclass
class ArticleOutcomes:
    offered: int = 0
    answered: int = 0
    helpful: int = 0
    not_helpful: int = 0
    handoff_after: int = 0

    def needs_review(self, threshold: float, min_offered: int) -> bool:
        """Too often not helpful, or followed by a handoff, once offered enough to tell."""
        if self.offered < min_offered:
            return False
        return (self.not_helpful + self.handoff_after) / self.offered > threshold


@dataclass
class OutcomeReport:
    by_article: dict[str, ArticleOutcomes] = field(default_factory=dict)

    def of(self, article_id: str) -> ArticleOutcomes:
        return self.by_article.get(article_id, ArticleOutcomes())


def first_handoff_by_conversation(session: Session) -> dict[str, datetime]:
    firsts: dict[str, datetime] = {}
    for conversation_id, created_at in session.execute(
        select(Handoff.conversation_id, Handoff.created_at).order_by(Handoff.created_at)
    ):
        firsts.setdefault(conversation_id, created_at)
    return firsts


def offered_articles(lookup: KbLookup) -> list[str]:
    return [hit["article_id"] for hit in lookup.hits[: OFFERED_BY_BAND.get(lookup.band, 0)]]


def article_outcomes(session: Session, since: datetime | None = None) -> OutcomeReport:
    query = select(KbLookup)
    if since is not None:
        query = query.where(KbLookup.created_at >= since)
    lookups: Sequence[KbLookup] = list(session.scalars(query))
    handoffs = first_handoff_by_conversation(session)
    report: dict[str, ArticleOutcomes] = defaultdict(ArticleOutcomes)
    escalated: set[tuple[str, str]] = set()  # (conversation, article): counted once
    for lookup in lookups:
        offered = offered_articles(lookup)
        for article_id in offered:
            report[article_id].offered += 1
        if lookup.band == "answer" and offered:
            report[offered[0]].answered += 1
        handed_over = handoffs.get(lookup.conversation_id or "")
        if handed_over is not None and lookup.created_at <= handed_over:
            for article_id in offered:
                escalated.add((lookup.conversation_id or "", article_id))
    for _, article_id in escalated:
        report[article_id].handoff_after += 1
    feedback = select(ArticleFeedback)
    if since is not None:
        feedback = feedback.where(ArticleFeedback.created_at >= since)
    for given in session.scalars(feedback):
        if given.helpful:
            report[given.article_id].helpful += 1
        else:
            report[given.article_id].not_helpful += 1
    return OutcomeReport(dict(report))
