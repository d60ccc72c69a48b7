"""Per-article outcomes from the bot's lookups: offered, answered confidently, marked helpful
or not, and followed by a handoff in the same conversation; and the same per topic (an article
and its translations), where a lookup that offered two articles of one topic counts once."""

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
from kb.store import ArticleStore


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
    by_topic: dict[str, ArticleOutcomes] = field(default_factory=dict)

    def of(self, article_id: str) -> ArticleOutcomes:
        return self.by_article.get(article_id, ArticleOutcomes())

    def of_topic(self, topic_id: str) -> ArticleOutcomes:
        return self.by_topic.get(topic_id, ArticleOutcomes())


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
    topic_ids = ArticleStore(session).topic_ids()

    def topic_of(article_id: str) -> str:  # an article no longer stored is its own topic
        return topic_ids.get(article_id, article_id)

    by_article: dict[str, ArticleOutcomes] = defaultdict(ArticleOutcomes)
    by_topic: dict[str, ArticleOutcomes] = defaultdict(ArticleOutcomes)
    escalated: set[tuple[str, str]] = set()  # (conversation, article): counted once
    for lookup in lookups:
        offered = offered_articles(lookup)
        for article_id in offered:
            by_article[article_id].offered += 1
        for topic_id in dict.fromkeys(topic_of(a) for a in offered):
            by_topic[topic_id].offered += 1
        if lookup.band == "answer" and offered:
            by_article[offered[0]].answered += 1
            by_topic[topic_of(offered[0])].answered += 1
        handed_over = handoffs.get(lookup.conversation_id or "")
        if handed_over is not None and lookup.created_at <= handed_over:
            for article_id in offered:
                escalated.add((lookup.conversation_id or "", article_id))
    for _, article_id in escalated:
        by_article[article_id].handoff_after += 1
    for _, topic_id in {(conversation, topic_of(a)) for conversation, a in escalated}:
        by_topic[topic_id].handoff_after += 1
    feedback = select(ArticleFeedback)
    if since is not None:
        feedback = feedback.where(ArticleFeedback.created_at >= since)
    for given in session.scalars(feedback):
        for outcomes in (by_article[given.article_id], by_topic[topic_of(given.article_id)]):
            if given.helpful:
                outcomes.helpful += 1
            else:
                outcomes.not_helpful += 1
    return OutcomeReport(dict(by_article), dict(by_topic))
