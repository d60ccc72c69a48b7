"""Every KPI of the reports, defined once and computed in aggregate SQL over a period.

The definitions (docs/reports.md says them in words):

- A conversation belongs to the period in which it started (``conversations.created_at``, in
  the report's time zone); one without a customer message is not counted at all.
- Its outcome, the first that holds: **escalated** (it has a handoff; the reason is the first
  handoff's), **abandoned** (the customer left mid-question: their last message was never
  answered, or the bot's last lookup found nothing, or offered options the customer never
  answered, or its last answer was marked not helpful), **rated_poor** (a rating of 1 or 2),
  **contained** (the rest: the bot resolved it alone).
- Speed: bot reply = a customer message to the bot's first reply to it; first response = a
  handoff to the agent's first reply; resolution = a handoff to its resolution; queue wait =
  a handoff to its claim. Percentiles are exact, nearest rank.
- Everything else of a conversation (its messages, lookups, feedback, handoffs, rating)
  counts in the period of the conversation, whenever it happened.

A conversation's facts (its customer messages, last customer and bot message, last lookup, last
feedback, first handoff's reason, rating) and each customer message's bot reply time are kept on
the rows by triggers (migration 0010 on SQLite, 0015 on PostgreSQL) and read from there when
they are kept (``facts_kept``); otherwise the same facts are worked out from the rows, by the
same rule (the "join path": also the tests' oracle for the kept facts).

The queries group by UTC hour (quarter hour in a zone with such an offset) and the few
hundred buckets are placed in local days and hours here, DST-correct through zoneinfo.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from bot.analytics.report_range import CHANNELS, ReportRange
from bot.analytics.sql import (
    dialect_of,
    json_field,
    json_items,
    percentile_by_group,
    percentiles,
    seconds_between,
    utc_bucket,
)
from bot.auth.models import User
from bot.conversations.models import ArticleFeedback, Conversation, KbLookup, Message
from bot.handoff.models import ConversationRating, Handoff
from bot.handoff.packet import OFFERED_BY_BAND
from kb.store import ArticleStore

OUTCOMES = ("contained", "escalated", "abandoned", "rated_poor")
REASONS = ("requested", "frustration", "topic", "repeated_failure", "unanswered")
BANDS = ("answer", "clarify", "none")
SCORES = (1, 2, 3, 4, 5)
POOR_SCORE = 2  # a rating at most this is poor
SATISFIED_SCORE = 4  # CSAT: the share of ratings at least this
COMPLAINT_REASON = "frustration"
TOP_ARTICLES = 10
TOP_UNANSWERED = 20
CSAT_COMMENTS = 50

# name: (unit, the outcome its tile leads to)
KPI_UNITS: dict[str, tuple[str, str | None]] = {
    "conversations": ("count", None),
    "customer_messages": ("count", None),
    "containment_rate": ("percent", "contained"),
    "escalation_rate": ("percent", "escalated"),
    "abandonment_rate": ("percent", "abandoned"),
    "bot_reply_p50_s": ("seconds", None),
    "bot_reply_p90_s": ("seconds", None),
    "first_response_p50_s": ("seconds", "escalated"),
    "resolution_p50_s": ("seconds", "escalated"),
    "first_response_breach_rate": ("percent", "escalated"),
    "queue_wait_p50_s": ("seconds", "escalated"),
    "csat_mean": ("score", None),
    "csat_satisfied_rate": ("percent", None),
    "csat_bot_mean": ("score", None),
    "csat_agent_mean": ("score", None),
    "complaint_rate": ("percent", "escalated"),
    "helpful_rate": ("percent", None),
}


FACT_TRIGGERS = 15  # after insert, delete and update on five tables: 0010 (SQLite), 0015


def facts_kept(session: Session) -> bool:
    """Whether each conversation's facts are kept on it: every trigger of migration 0010
    (SQLite) or 0015 (PostgreSQL) is there, and enabled. Otherwise (a later migration that
    copies a SQLite table drops its triggers; a PostgreSQL import that disabled them, or a
    database downgraded below 0015) the reports work the facts out from the rows: slowly, but
    right."""
    if dialect_of(session) == "sqlite":
        query = (
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
            " AND name LIKE 'report^_facts^_%' ESCAPE '^'"
        )
    else:  # the tables of the search path; 'D': disabled (ALTER TABLE … DISABLE TRIGGER)
        query = (
            "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"
            " AND tgname LIKE 'report^_facts^_%' ESCAPE '^' AND tgenabled <> 'D'"
            " AND pg_table_is_visible(tgrelid)"
        )
    return session.scalar(text(query)) == FACT_TRIGGERS


# -- a conversation's facts, as SQL correlated to Conversation --------------------------------


def _of_conversation(column: Any) -> ColumnElement[bool]:
    return column == Conversation.id


def _customer(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(
        _of_conversation(Message.conversation_id), Message.sender == "customer", *conditions
    )


# Correlated to Conversation only: a report's queries nest these inside queries over the same
# tables (messages, handoffs), which must not be correlated.
def _scalar(query: Select[Any]) -> ColumnElement[Any]:
    return query.correlate(Conversation).scalar_subquery()


def _exists(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(*conditions).correlate(Conversation)


def customer_messages(kept: bool = False) -> ColumnElement[int]:
    """How many messages the customer sent (a button press is one)."""
    if kept:
        return Conversation.customer_messages.expression
    return _scalar(select(func.count()).where(_customer()))


def has_customer_message(kept: bool = False) -> ColumnElement[bool]:
    if kept:
        return Conversation.customer_messages > 0
    return _exists(_customer())


def _last(column: Any, model: Any, *conditions: ColumnElement[bool]) -> ColumnElement[Any]:
    return _scalar(
        select(column)
        .where(_of_conversation(model.conversation_id), *conditions)
        .order_by(model.id.desc())
        .limit(1)
    )


def rating_score(kept: bool = False) -> ColumnElement[int | None]:
    if kept:
        return Conversation.rating_score.expression
    return _scalar(
        select(ConversationRating.score).where(_of_conversation(ConversationRating.conversation_id))
    )


def first_handoff_reason(kept: bool = False) -> ColumnElement[str | None]:
    """The reason of the conversation's first handoff (NULL: never handed off)."""
    if kept:
        return Conversation.first_handoff_reason.expression
    return _scalar(
        select(Handoff.reason)
        .where(_of_conversation(Handoff.conversation_id))
        .order_by(Handoff.id)
        .limit(1)
    )


def outcome(kept: bool = False) -> ColumnElement[str]:
    """The conversation's outcome, the first that holds (the module's docstring); from the
    facts kept on the conversation, or worked out from its rows."""
    if kept:
        return _outcome(
            Conversation.first_handoff_reason.is_not(None),
            last_customer_id=Conversation.last_customer_message_id,
            last_customer_at=Conversation.last_customer_message_at,
            last_bot_id=Conversation.last_bot_message_id,
            last_band=Conversation.last_lookup_band,
            last_lookup_at=Conversation.last_lookup_at,
            last_helpful=Conversation.last_feedback_helpful,
            last_feedback_at=Conversation.last_feedback_at,
            score=Conversation.rating_score,
        )
    return _outcome(
        _exists(_of_conversation(Handoff.conversation_id)),
        last_customer_id=_scalar(select(func.max(Message.id)).where(_customer())),
        last_customer_at=_scalar(select(func.max(Message.created_at)).where(_customer())),
        last_bot_id=_scalar(
            select(func.max(Message.id)).where(
                _of_conversation(Message.conversation_id), Message.sender == "bot"
            )
        ),
        last_band=_last(KbLookup.band, KbLookup),
        last_lookup_at=_last(KbLookup.created_at, KbLookup),
        last_helpful=_last(ArticleFeedback.helpful, ArticleFeedback),
        last_feedback_at=_last(ArticleFeedback.created_at, ArticleFeedback),
        score=rating_score(),
    )


def _outcome(
    handed_off: ColumnElement[bool],
    *,
    last_customer_id: Any,
    last_customer_at: Any,
    last_bot_id: Any,
    last_band: Any,
    last_lookup_at: Any,
    last_helpful: Any,
    last_feedback_at: Any,
    score: Any,
) -> ColumnElement[str]:
    abandoned = or_(
        last_customer_id > func.coalesce(last_bot_id, 0),  # never answered
        last_band == "none",  # nothing found
        and_(last_band == "clarify", last_customer_at <= last_lookup_at),  # options unanswered
        and_(last_helpful == false(), last_feedback_at >= last_lookup_at),  # "not helpful"
    )
    return case(
        (handed_off, "escalated"),
        (abandoned, "abandoned"),
        (score <= POOR_SCORE, "rated_poor"),
        else_="contained",
    )


def in_period(period: ReportRange, kept: bool = False) -> list[ColumnElement[bool]]:
    """The conversations a report counts: started in the period, with a customer message,
    and the filters."""
    conditions = [
        Conversation.created_at >= period.start_utc(),
        Conversation.created_at < period.end_utc(),
        has_customer_message(kept),
    ]
    if period.language is not None:
        conditions.append(Conversation.language == period.language)
    if period.channel is not None:
        conditions.append(Conversation.channel == period.channel)
    if period.agent_id is not None:
        conditions.append(
            _exists(_of_conversation(Handoff.conversation_id), Handoff.agent_id == period.agent_id)
        )
    return conditions


@dataclass(frozen=True)
class Scope:
    """A period's conversations with their facts, worked out once into a temporary table
    (id, UTC bucket, outcome, customer messages, rating, first handoff's reason, channel) that every
    KPI query then reads; ``kept``: the database keeps the facts (``facts_kept``)."""

    period: ReportRange
    table: Table
    kept: bool

    def ids(self) -> Select[Any]:
        return select(self.table.c.id)


@contextmanager
def scoped(session: Session, period: ReportRange) -> Iterator[Scope]:
    table = Table(
        f"report_scope_{uuid.uuid4().hex[:12]}",
        MetaData(),
        Column("id", String(36), primary_key=True),
        Column("bucket", String(16)),
        Column("outcome", String(16)),
        Column("messages", Integer),
        Column("score", Integer),
        Column("reason", String(32)),
        Column("channel", String(16)),
        prefixes=["TEMPORARY"],
    )
    kept = facts_kept(session)
    connection = session.connection()
    table.create(connection)
    bucket = utc_bucket(dialect_of(session), Conversation.created_at, period.bucket_minutes())
    facts = select(
        Conversation.id,
        bucket,
        outcome(kept),
        customer_messages(kept),
        rating_score(kept),
        first_handoff_reason(kept),
        Conversation.channel,
    ).where(*in_period(period, kept))
    connection.execute(insert(table).from_select(list(table.c.keys()), facts))
    try:
        yield Scope(period, table, kept)
    finally:
        table.drop(connection)


# -- the measures -------------------------------------------------------------------------------


@dataclass
class Bucket:
    """Conversations that started in one UTC bucket, by outcome."""

    start: datetime
    outcomes: dict[str, int] = field(default_factory=dict)
    customer_messages: int = 0
    score_sum: int = 0
    score_count: int = 0

    @property
    def conversations(self) -> int:
        return sum(self.outcomes.values())


@dataclass
class Measures:
    buckets: list[Bucket]
    scores: dict[tuple[int, str], int]  # (score, resolved_by): ratings
    reasons: dict[str, int]  # the first handoff's reason: escalated conversations
    bands: dict[str, int]
    helpful: int
    not_helpful: int
    complaints: int
    handoffs: int
    breaches: int
    speed: dict[str, float | None]


def _buckets(session: Session, scope: Scope) -> list[Bucket]:
    facts = scope.table.c
    rows = session.execute(
        select(
            facts.bucket,
            facts.outcome,
            func.count(),
            func.sum(facts.messages),
            func.coalesce(func.sum(facts.score), 0),
            func.count(facts.score),
        ).group_by(facts.bucket, facts.outcome)
    )
    found: dict[str, Bucket] = {}
    fmt = "%Y-%m-%d %H" if scope.period.bucket_minutes() == 60 else "%Y-%m-%d %H:%M"
    for key, name, count, messages, score_sum, score_count in rows:
        entry = found.get(key)
        if entry is None:  # a bucket's rows come one per outcome: its time is parsed once
            entry = found[key] = Bucket(datetime.strptime(key, fmt).replace(tzinfo=UTC))
        entry.outcomes[name] = count
        entry.customer_messages += messages or 0
        entry.score_sum += score_sum
        entry.score_count += score_count
    return [found[key] for key in sorted(found)]


def _speed(
    session: Session, scope: Scope, target_s: int, now: datetime
) -> tuple[dict[str, float | None], int, int]:
    dialect = dialect_of(session)
    ids = scope.ids()
    bot_reply = _bot_reply_times(dialect, scope)
    speed = {
        f"bot_reply_p{int(p)}_s": v
        for p, v in percentiles(session, bot_reply, (50.0, 90.0)).items()
    }
    handoffs = Handoff.conversation_id.in_(ids)

    def median(end: Any, *conditions: ColumnElement[bool]) -> float | None:
        values = select(seconds_between(dialect, Handoff.created_at, end)).where(
            handoffs, *conditions
        )
        return percentiles(session, values, (50.0,))[50.0]

    speed["first_response_p50_s"] = median(Handoff.first_response_at)
    speed["resolution_p50_s"] = median(Handoff.closed_at, Handoff.status == "resolved")
    speed["queue_wait_p50_s"] = median(Handoff.claimed_at)
    waited = seconds_between(
        dialect,
        Handoff.created_at,
        func.coalesce(
            Handoff.first_response_at, Handoff.closed_at, literal(now, Handoff.created_at.type)
        ),
    )
    total, breaches = session.execute(
        select(
            func.count(), func.coalesce(func.sum(case((waited > target_s, 1), else_=0)), 0)
        ).where(handoffs)
    ).one()
    return speed, total, breaches


def _bot_reply_times(dialect: str, scope: Scope) -> Select[Any]:
    """Each customer message's seconds to the bot's first reply to it."""
    ids = scope.ids()
    if scope.kept:  # kept on the message, read from ix_messages_bot_reply alone
        return select(Message.bot_reply_s).where(
            Message.conversation_id.in_(ids), Message.bot_reply_s.is_not(None)
        )
    reply = aliased(Message)
    first_reply = (
        select(func.min(reply.created_at))
        .where(reply.reply_to == Message.id, reply.sender == "bot")
        .correlate(Message)
        .scalar_subquery()
    )
    # Each customer message's first reply, from ix_messages_reply_to alone.
    return select(seconds_between(dialect, Message.created_at, first_reply)).where(
        Message.conversation_id.in_(ids), Message.sender == "customer"
    )


def measure(
    session: Session, scope: Scope, target_s: int, now: datetime, series: bool = True
) -> Measures:
    """The period's measures; without ``series`` (the previous period, which gives KPIs
    only) the escalation reasons and the bands are left empty, not counted."""
    ids = scope.ids()
    scores = {
        (score, resolved_by): count
        for score, resolved_by, count in session.execute(
            select(ConversationRating.score, ConversationRating.resolved_by, func.count())
            .where(ConversationRating.conversation_id.in_(ids))
            .group_by(ConversationRating.score, ConversationRating.resolved_by)
        )
    }
    reasons: dict[str, int] = {}
    bands: dict[str, int] = {}
    if series:
        reason = scope.table.c.reason
        reasons = dict(
            session.execute(
                select(reason, func.count()).where(reason.is_not(None)).group_by(reason)
            ).all()
        )
        bands = dict(
            session.execute(
                select(KbLookup.band, func.count())
                .where(KbLookup.conversation_id.in_(ids))
                .group_by(KbLookup.band)
            ).all()
        )
    verdicts = dict(
        session.execute(
            select(ArticleFeedback.helpful, func.count())
            .where(ArticleFeedback.conversation_id.in_(ids))
            .group_by(ArticleFeedback.helpful)
        ).all()
    )
    complaints = session.scalar(
        select(func.count(func.distinct(Handoff.conversation_id))).where(
            Handoff.conversation_id.in_(ids), Handoff.reason == COMPLAINT_REASON
        )
    )
    speed, handoffs, breaches = _speed(session, scope, target_s, now)
    return Measures(
        buckets=_buckets(session, scope),
        scores=scores,
        reasons=reasons,
        bands=bands,
        helpful=verdicts.get(True, 0),
        not_helpful=verdicts.get(False, 0),
        complaints=complaints or 0,
        handoffs=handoffs,
        breaches=breaches,
        speed=speed,
    )


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _mean(scores: dict[tuple[int, str], int], resolved_by: str | None = None) -> float | None:
    chosen = {k: n for k, n in scores.items() if resolved_by in (None, k[1])}
    count = sum(chosen.values())
    return round(sum(k[0] * n for k, n in chosen.items()) / count, 3) if count else None


def kpi_values(m: Measures) -> dict[str, float | int | None]:
    conversations = sum(b.conversations for b in m.buckets)
    by_outcome = {name: sum(b.outcomes.get(name, 0) for b in m.buckets) for name in OUTCOMES}
    rated = sum(m.scores.values())
    satisfied = sum(n for (score, _), n in m.scores.items() if score >= SATISFIED_SCORE)
    return {
        "conversations": conversations,
        "customer_messages": sum(b.customer_messages for b in m.buckets),
        "containment_rate": _rate(by_outcome["contained"], conversations),
        "escalation_rate": _rate(by_outcome["escalated"], conversations),
        "abandonment_rate": _rate(by_outcome["abandoned"], conversations),
        "bot_reply_p50_s": m.speed["bot_reply_p50_s"],
        "bot_reply_p90_s": m.speed["bot_reply_p90_s"],
        "first_response_p50_s": m.speed["first_response_p50_s"],
        "resolution_p50_s": m.speed["resolution_p50_s"],
        "first_response_breach_rate": _rate(m.breaches, m.handoffs),
        "queue_wait_p50_s": m.speed["queue_wait_p50_s"],
        "csat_mean": _mean(m.scores),
        "csat_satisfied_rate": _rate(satisfied, rated),
        "csat_bot_mean": _mean(m.scores, "bot"),
        "csat_agent_mean": _mean(m.scores, "agent"),
        "complaint_rate": _rate(m.complaints, conversations),
        "helpful_rate": _rate(m.helpful, m.helpful + m.not_helpful),
    }


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    value: float | int | None
    previous: float | int | None
    unit: str
    outcome: str | None


@dataclass(frozen=True)
class ArticleRow:
    article_id: str
    title: str
    offered: int
    helpful: int
    not_helpful: int


@dataclass(frozen=True)
class AgentRow:
    agent_id: int
    name: str
    handoffs: int
    resolved: int
    first_response_p50_s: float | None
    csat_mean: float | None
    csat_count: int


@dataclass(frozen=True)
class ChannelRow:
    """The period's conversations that came by one channel (widget, email)."""

    channel: str
    conversations: int
    contained: int
    escalated: int
    containment_rate: float | None
    escalation_rate: float | None
    csat_mean: float | None
    csat_count: int


@dataclass
class Report:
    """The summary's shape (``dataclasses.asdict`` is the API's and ``kefu report``'s JSON)."""

    range: dict[str, str]
    previous: dict[str, str]
    kpis: dict[str, Kpi]
    series: dict[str, Any]
    tables: dict[str, list[Any]]


def _series(period: ReportRange, m: Measures) -> dict[str, Any]:
    daily: dict[date, dict[str, Any]] = {
        day: {"date": day.isoformat(), "conversations": 0, "customer_messages": 0}
        | dict.fromkeys(OUTCOMES, 0)
        | {"csat_sum": 0, "csat_count": 0}
        for day in period.dates()
    }
    heat: dict[tuple[int, int], int] = defaultdict(int)
    for bucket in m.buckets:
        local = bucket.start.astimezone(period.tz)
        day = daily[local.date()]
        day["conversations"] += bucket.conversations
        day["customer_messages"] += bucket.customer_messages
        for name, count in bucket.outcomes.items():
            day[name] += count
        day["csat_sum"] += bucket.score_sum
        day["csat_count"] += bucket.score_count
        heat[(local.weekday(), local.hour)] += bucket.conversations
    for day in daily.values():
        total, count = day.pop("csat_sum"), day.pop("csat_count")
        day["csat_mean"] = round(total / count, 3) if count else None
    return {
        "daily": list(daily.values()),
        "heatmap": [
            {"weekday": weekday, "hour": hour, "conversations": heat[(weekday, hour)]}
            for weekday in range(7)
            for hour in range(24)
        ],
        "csat_distribution": {
            str(score): sum(n for (s, _), n in m.scores.items() if s == score) for score in SCORES
        },
        "escalation_reasons": {reason: m.reasons.get(reason, 0) for reason in REASONS}
        | {r: n for r, n in m.reasons.items() if r not in REASONS},
        "bands": {band: m.bands.get(band, 0) for band in BANDS},
    }


def _offered_counts(session: Session, scope: Scope) -> dict[str, int]:
    """How often each article was offered: the first hits of a lookup, as many as its band
    shows (handoff/packet.py OFFERED_BY_BAND). With the facts kept, a lookup's first hit is
    its ``top_article_id`` (read from ix_kb_lookups_offered) and only the further hits a band
    shows are read from the JSON."""
    dialect = dialect_of(session)
    hits = json_items(dialect, KbLookup.hits, "hit")
    shown = case(*((KbLookup.band == band, n) for band, n in OFFERED_BY_BAND.items()), else_=0)
    in_scope = KbLookup.conversation_id.in_(scope.ids())
    hit_article = json_field(dialect, hits.value, "article_id")
    from_hits = select(hit_article.label("article")).select_from(KbLookup).join(hits.table, true())
    if scope.kept:
        offered = union_all(
            select(KbLookup.top_article_id.label("article")).where(
                in_scope, KbLookup.band.in_([b for b, n in OFFERED_BY_BAND.items() if n >= 1])
            ),
            from_hits.where(
                in_scope,
                KbLookup.band.in_([b for b, n in OFFERED_BY_BAND.items() if n >= 2]),
                hits.key >= 1,
                hits.key < shown,
            ),
        ).subquery()
    else:
        offered = from_hits.where(in_scope, hits.key < shown).subquery()
    rows = session.execute(select(offered.c.article, func.count()).group_by(offered.c.article))
    return {article_id: count for article_id, count in rows if article_id}


def _article_tables(session: Session, scope: Scope) -> dict[str, list[ArticleRow]]:
    offered = _offered_counts(session, scope)
    verdicts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for article_id, helpful, count in session.execute(
        select(ArticleFeedback.article_id, ArticleFeedback.helpful, func.count())
        .where(ArticleFeedback.conversation_id.in_(scope.ids()))
        .group_by(ArticleFeedback.article_id, ArticleFeedback.helpful)
    ):
        verdicts[article_id][0 if helpful else 1] += count
    store = ArticleStore(session)

    def row(article_id: str) -> ArticleRow:
        helpful, not_helpful = verdicts.get(article_id, (0, 0))
        title = store.title_of(article_id) or article_id
        return ArticleRow(article_id, title, offered.get(article_id, 0), helpful, not_helpful)

    top = sorted(offered, key=lambda a: (-offered[a], a))[:TOP_ARTICLES]
    poor = sorted((a for a, (_, n) in verdicts.items() if n), key=lambda a: (-verdicts[a][1], a))[
        :TOP_ARTICLES
    ]
    return {"top_articles": [row(a) for a in top], "not_helpful_articles": [row(a) for a in poor]}


def unanswered(session: Session, scope: Scope) -> list[dict[str, Any]]:
    """The gap report's unanswered questions (bot/analytics/gaps.py), counted by question: a
    lookup that found nothing, was marked not helpful, or was followed by a handoff."""
    not_helpful = select(ArticleFeedback.lookup_id).where(
        ArticleFeedback.helpful.is_(False), ArticleFeedback.lookup_id.is_not(None)
    )
    handed_over = (
        exists()
        .where(
            Handoff.conversation_id == KbLookup.conversation_id,
            Handoff.created_at >= KbLookup.created_at,
        )
        .correlate(KbLookup)
    )
    count = func.count().label("count")
    rows = session.execute(
        select(KbLookup.question, KbLookup.language, count)
        .where(
            KbLookup.conversation_id.in_(scope.ids()),
            or_(KbLookup.band == "none", KbLookup.id.in_(not_helpful), handed_over),
        )
        .group_by(KbLookup.question, KbLookup.language)
        .order_by(count.desc(), KbLookup.question)
        .limit(TOP_UNANSWERED)
    )
    return [{"question": q, "count": n, "language": lang} for q, lang, n in rows]


def _agents(session: Session, scope: Scope) -> list[AgentRow]:
    ids = scope.ids()
    dialect = dialect_of(session)
    held = session.execute(
        select(
            Handoff.agent_id,
            func.count(),
            func.coalesce(func.sum(case((Handoff.status == "resolved", 1), else_=0)), 0),
        )
        .where(Handoff.conversation_id.in_(ids), Handoff.agent_id.is_not(None))
        .group_by(Handoff.agent_id)
    ).all()
    ratings = {
        agent_id: (mean, count)
        for agent_id, mean, count in session.execute(
            select(ConversationRating.agent_id, func.avg(ConversationRating.score), func.count())
            .where(
                ConversationRating.conversation_id.in_(ids),
                ConversationRating.agent_id.is_not(None),
            )
            .group_by(ConversationRating.agent_id)
        )
    }
    names = dict(session.execute(select(User.id, User.name)).all())
    first_response = percentile_by_group(
        session,
        select(
            Handoff.agent_id,
            seconds_between(dialect, Handoff.created_at, Handoff.first_response_at),
        ).where(Handoff.conversation_id.in_(ids), Handoff.agent_id.is_not(None)),
        50.0,
    )
    rows = []
    for agent_id, handoffs, resolved in held:  # one row per agent
        mean, count = ratings.get(agent_id, (None, 0))
        rows.append(
            AgentRow(
                agent_id=agent_id,
                name=names.get(agent_id, f"#{agent_id}"),
                handoffs=handoffs,
                resolved=resolved,
                first_response_p50_s=first_response.get(agent_id),
                csat_mean=None if mean is None else round(float(mean), 3),
                csat_count=count,
            )
        )
    return sorted(rows, key=lambda r: (-r.handoffs, r.name))


def _channels(session: Session, scope: Scope) -> list[ChannelRow]:
    """Conversations, contained, escalated and the mean rating per channel: every channel
    (the filtered one only, with a channel filter), with zeros where none came."""
    facts = scope.table.c
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for channel, name, count, score_sum, score_count in session.execute(
        select(
            facts.channel,
            facts.outcome,
            func.count(),
            func.coalesce(func.sum(facts.score), 0),
            func.count(facts.score),
        ).group_by(facts.channel, facts.outcome)
    ):
        found = counts[channel]
        found[name] += count
        found["conversations"] += count
        found["score_sum"] += score_sum
        found["score_count"] += score_count
    wanted = [scope.period.channel] if scope.period.channel else list(CHANNELS)
    rows = []
    for channel in [*wanted, *sorted(c for c in counts if c not in wanted)]:
        found = counts[channel]
        total, rated = found["conversations"], found["score_count"]
        rows.append(
            ChannelRow(
                channel=channel,
                conversations=total,
                contained=found["contained"],
                escalated=found["escalated"],
                containment_rate=_rate(found["contained"], total),
                escalation_rate=_rate(found["escalated"], total),
                csat_mean=round(found["score_sum"] / rated, 3) if rated else None,
                csat_count=rated,
            )
        )
    return rows


def _csat_comments(session: Session, scope: Scope) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ConversationRating)
        .where(
            ConversationRating.conversation_id.in_(scope.ids()),
            ConversationRating.comment.is_not(None),
            ConversationRating.comment != "",
        )
        .order_by(ConversationRating.created_at.desc(), ConversationRating.id.desc())
        .limit(CSAT_COMMENTS)
    ).scalars()
    return [
        {
            "conversation_id": r.conversation_id,
            "score": r.score,
            "comment": r.comment,
            "resolved_by": r.resolved_by,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]


def report(
    session: Session, period: ReportRange, first_response_target_s: int, now: datetime
) -> Report:
    """The whole summary of a period: KPIs against the previous period, series, tables."""
    before = period.previous()
    with scoped(session, before) as scope:
        previous = kpi_values(measure(session, scope, first_response_target_s, now, series=False))
    with scoped(session, period) as scope:
        current = measure(session, scope, first_response_target_s, now)
        tables: dict[str, list[Any]] = {
            **_article_tables(session, scope),
            "unanswered": unanswered(session, scope),
            "agents": _agents(session, scope),
            "csat_comments": _csat_comments(session, scope),
            "channels": _channels(session, scope),
        }
    values = kpi_values(current)
    return Report(
        range={
            "since": period.since.isoformat(),
            "until": period.until.isoformat(),
            "tz": period.tz_name,
        },
        previous={"since": before.since.isoformat(), "until": before.until.isoformat()},
        kpis={
            name: Kpi(values[name], previous[name], unit, link)
            for name, (unit, link) in KPI_UNITS.items()
        },
        series=_series(period, current),
        tables=tables,
    )


def kpi_rows(result: Report) -> Sequence[dict[str, Any]]:
    """The KPIs as table rows (the CSV export, the CLI's table)."""
    return [
        {"kpi": name, "value": k.value, "previous": k.previous, "unit": k.unit}
        for name, k in result.kpis.items()
    ]
