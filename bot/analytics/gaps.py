"""The gap report: what customers asked that the knowledge base could not answer — questions
answered with band ``none``, marked not helpful, or followed by a handoff — grouped by meaning.

Questions are embedded with the retrieval encoder (multilingual, so a Chinese and an English
phrasing of one topic land together) and clustered by average-linkage agglomerative clustering
on cosine distance, cut at ``distance_threshold``; biggest clusters first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.analytics.outcomes import first_handoff_by_conversation
from bot.conversations.models import ArticleFeedback, KbLookup
from retrieval.encoders.base import SentenceEncoder
from texts.language import language_of

# Cosine distance. On tests/data/gaps (3 topics, both languages) 0.55–0.7 all give the right
# clusters; 0.5 splits one off, 0.75 merges two. The middle of that range:
DISTANCE_THRESHOLD = 0.6
MAX_QUESTIONS = 20
MAX_SAMPLES = 5


@dataclass(frozen=True)
class UnansweredQuestion:
    question: str
    reason: str  # none / not_helpful / handoff
    asked_at: datetime
    # The topics the bot offered for it (an article and its translations are one topic).
    topics: tuple[str, ...] = ()


@dataclass
class GapCluster:
    questions: list[UnansweredQuestion] = field(default_factory=list)

    def public(self, cluster_id: int) -> dict[str, object]:
        texts = list(dict.fromkeys(q.question for q in self.questions))
        return {
            "id": cluster_id,
            "size": len(self.questions),
            "reasons": dict(Counter(q.reason for q in self.questions)),
            "languages": dict(Counter(language_of(q.question) for q in self.questions)),
            "last_seen": max(q.asked_at for q in self.questions).isoformat(),
            "samples": texts[:MAX_SAMPLES],
            "questions": texts[:MAX_QUESTIONS],
            # Which topics the bot tried for these questions: the articles that fail them.
            "topics_offered": dict(
                Counter(t for q in self.questions for t in q.topics).most_common(MAX_SAMPLES)
            ),
        }


def unanswered_questions(
    session: Session, since: datetime | None = None, topic_of: Mapping[str, str] | None = None
) -> list[UnansweredQuestion]:
    """Each lookup at most once, with the strongest reason: handoff, not helpful, none; with
    the topics it offered (``topic_of`` maps an article to its topic; its own id by default)."""
    topics = topic_of or {}
    query = select(KbLookup).order_by(KbLookup.id)
    if since is not None:
        query = query.where(KbLookup.created_at >= since)
    lookups = list(session.scalars(query))
    not_helpful = set(
        session.scalars(
            select(ArticleFeedback.lookup_id).where(
                ArticleFeedback.helpful.is_(False), ArticleFeedback.lookup_id.is_not(None)
            )
        )
    )
    handoffs = first_handoff_by_conversation(session)
    found = []
    for lookup in lookups:
        handed_over = handoffs.get(lookup.conversation_id or "")
        if handed_over is not None and lookup.created_at <= handed_over:
            reason = "handoff"
        elif lookup.id in not_helpful:
            reason = "not_helpful"
        elif lookup.band == "none":
            reason = "none"
        else:
            continue
        offered = dict.fromkeys(
            topics.get(hit.get("article_id", ""), hit.get("article_id", ""))
            for hit in lookup.hits or []
            if hit.get("article_id")
        )
        found.append(UnansweredQuestion(lookup.question, reason, lookup.created_at, tuple(offered)))
    return found


def cluster_questions(
    questions: Sequence[UnansweredQuestion],
    encoder: SentenceEncoder,
    distance_threshold: float = DISTANCE_THRESHOLD,
) -> list[GapCluster]:
    if not questions:
        return []
    if len(questions) == 1:
        return [GapCluster(list(questions))]
    vectors = np.asarray(encoder.encode_queries([q.question for q in questions]), dtype=np.float64)
    labels = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="average",
        distance_threshold=distance_threshold,
    ).fit_predict(vectors)
    clusters: dict[int, GapCluster] = {}
    for label, question in zip(labels.tolist(), questions, strict=True):
        clusters.setdefault(label, GapCluster()).questions.append(question)
    return sorted(
        clusters.values(),
        key=lambda c: (-len(c.questions), -max(q.asked_at for q in c.questions).timestamp()),
    )
