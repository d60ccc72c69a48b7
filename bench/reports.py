"""Reports benchmark: the whole summary and the conversation list at 100k conversations.

Run with ``python -m bench.reports [--conversations 100000] [--runs 7] [--database PATH |
--database-url URL | --postgres] [--join-path] [--insert-cost N] [--json]``. It writes a
generated shop into a database migrated with Alembic, so with the real indexes and the triggers
that keep the reports' facts as rows are inserted: a SQLite file (a temporary one, or
``--database``, which a later run reuses, migrated to the latest revision), the database of
``--database-url`` (PostgreSQL: generated when it holds no conversation, else reused), or a
fresh database on a throw-away PostgreSQL cluster (``--postgres``: the tests' harness,
tests/servers/postgres.py; ANALYZE after the load, as docs/scaling.md advises). The
conversations spread evenly over 90 days, 10 messages each on average (customer and bot in
turn, every bot message a reply), a knowledge-base lookup for most customer messages (answer
65 %, clarify 20 %, none 15 %), feedback on a fifth of the answers, a handoff for 15 % of the
conversations (most claimed, answered and resolved by one of 20 agents), a rating for 30 %.
Then it measures, p50 over ``--runs`` runs after one warm-up:

- the summary of the last 30 days (bot/analytics/kpis.py ``report``: every KPI, the previous
  period's, the series and the tables) — target 1 s;
- the conversation list's first page (50, newest first) — target 100 ms, as for the second
  page and the filtered first pages: an outcome, a rating, an article, and a text search
  (``q``: a common word, and a text found nowhere).

``--join-path`` measures the reports working the facts out from the rows (the "join path":
PostgreSQL's before migration 0015) even where the triggers keep them, for comparison.
``--insert-cost N`` then stores N messages in new conversations, one per transaction (a
customer message, then a bot reply to it, in turn), with the triggers and again without them
(disabled on PostgreSQL, dropped and created again on SQLite), and gives the mean time of one
message each way (``insert_kept_ms``, ``insert_bare_ms``); those conversations are deleted
afterwards.

``--json`` prints the p50s in seconds, ``targets`` (the limit of each), ``target_text``,
``over_target`` (the names over their limit), ``targets_met``, ``cpus``, ``engine``,
``facts_kept`` and ``sqlite_version``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.analytics import conversation_log, kpis
from bot.analytics.conversation_log import ConversationQuery, conversation_page
from bot.analytics.kpis import FACT_TRIGGERS, report
from bot.analytics.report_range import ReportRange
from bot.auth.models import User
from bot.conversations.models import ArticleFeedback, Conversation, KbLookup, Message
from bot.database import upgrade_database
from bot.handoff.models import ConversationRating, Handoff
from db.engine import create_engine_for, session_factory, sqlite_file

DAYS = 90
END = datetime(2026, 12, 1, tzinfo=UTC)
ARTICLES = [f"article-{n}" for n in range(200)]
WORDS = "refund parcel invoice card coupon shipping return size colour delivery".split()
AGENTS = 20
BATCH = 20_000
# Issue 12: the whole 30-day summary in 1 s, the conversation list's first page in 100 ms; a
# filtered or searched first page, and the next page, are first pages too.
PAGES = (
    "first_page_p50_s",
    "second_page_p50_s",
    "page_outcome_abandoned_p50_s",
    "page_outcome_escalated_p50_s",
    "page_rating_1_p50_s",
    "page_article_p50_s",
    "page_search_common_p50_s",
    "page_search_rare_p50_s",
)
TARGETS = {"summary_p50_s": 1.0} | dict.fromkeys(PAGES, 0.1)
TARGET_TEXT = {
    "summary_p50_s": "the whole summary of 30 days with the previous period, p50 <= 1 s",
    "pages": "a first page of the conversation list (any filter or search), p50 <= 100 ms",
}


def generate(session: Session, conversations: int, seed: int = 12) -> dict[str, int]:
    """The generated shop, inserted in batches; the number of rows of each table."""
    rng = random.Random(seed)
    connection = session.connection()
    connection.execute(
        insert(User),
        [
            {"email": f"agent{n}@shop.test", "name": f"Agent {n}", "role": "agent"}
            | {"password_hash": "x", "active": True, "created_at": END}
            for n in range(1, AGENTS + 1)
        ],
    )
    counts = dict.fromkeys(("conversations", "messages", "lookups", "feedback"), 0)
    counts |= {"handoffs": 0, "ratings": 0}
    rows: dict[Any, list[dict[str, Any]]] = {
        m: [] for m in (Conversation, Message, KbLookup, ArticleFeedback, Handoff)
    }
    rows[ConversationRating] = []
    message_id = lookup_id = 0
    span = DAYS * 86400

    def flush() -> None:
        for model, batch in rows.items():
            if batch:
                connection.execute(insert(model), batch)
                batch.clear()

    for n in range(conversations):
        started = END - timedelta(seconds=span * (conversations - n) / conversations)
        cid = str(uuid.UUID(int=rng.getrandbits(128)))
        language = "zh" if rng.random() < 0.4 else "en"
        rows[Conversation].append(
            {"id": cid, "language": language, "handled_by": "bot", "channel": "widget"}
            | {"created_at": started, "updated_at": started}
        )
        at = started
        turns = rng.randint(3, 7)
        for _ in range(turns):
            at += timedelta(seconds=rng.uniform(2, 40))
            message_id += 1
            question = " ".join(rng.choices(WORDS, k=rng.randint(2, 6)))
            # Every row names every column: an executemany takes its columns from the first
            # row, so a reply_to missing there would be dropped from every bot message.
            rows[Message].append(
                {"id": message_id, "conversation_id": cid, "sender": "customer"}
                | {"text": question, "payload": {}, "reply_to": None, "created_at": at}
                | {"awaiting_bot": False, "bot_attempts": 0}
            )
            customer_id = message_id
            if rng.random() < 0.8:
                lookup_id += 1
                band = rng.choices(("answer", "clarify", "none"), (65, 20, 15))[0]
                hits = [
                    {"article_id": a, "version": 1, "score": round(rng.uniform(0.3, 0.9), 3)}
                    for a in rng.sample(ARTICLES, 3)
                ]
                rows[KbLookup].append(
                    {"id": lookup_id, "conversation_id": cid, "question": question}
                    | {"language": language, "band": band, "hits": hits}
                    | {"created_at": at + timedelta(milliseconds=200)}
                )
                if band == "answer" and rng.random() < 0.2:
                    rows[ArticleFeedback].append(
                        {"conversation_id": cid, "article_id": hits[0]["article_id"]}
                        | {"version": 1, "helpful": rng.random() < 0.7, "lookup_id": lookup_id}
                        | {"created_at": at + timedelta(seconds=5)}
                    )
            if rng.random() < 0.97:  # a few are left unanswered
                at += timedelta(seconds=rng.lognormvariate(0, 0.6))
                message_id += 1
                rows[Message].append(
                    {"id": message_id, "conversation_id": cid, "sender": "bot"}
                    | {"text": "an answer from the knowledge base", "payload": {}}
                    | {"reply_to": customer_id, "created_at": at}
                    | {"awaiting_bot": False, "bot_attempts": 0}
                )
        agent_id = None
        if rng.random() < 0.15:
            agent_id = rng.randint(1, AGENTS)
            claimed = rng.uniform(5, 600)
            rows[Handoff].append(
                {"conversation_id": cid, "status": "resolved", "language": language}
                | {"reason": rng.choice(("requested", "frustration", "topic", "repeated_failure"))}
                | {"summary": "", "sentiment": 0.0, "topic_priority": 0, "packet": {}}
                | {"agent_id": agent_id, "created_at": at}
                | {"claimed_at": at + timedelta(seconds=claimed)}
                | {"first_response_at": at + timedelta(seconds=claimed + rng.uniform(5, 120))}
                | {"closed_at": at + timedelta(seconds=claimed + rng.uniform(120, 1800))}
            )
        if rng.random() < 0.3:
            rows[ConversationRating].append(
                {"conversation_id": cid, "score": rng.choices(range(1, 6), (5, 5, 10, 30, 50))[0]}
                | {"comment": rng.choice((None, None, "thanks", "too slow"))}
                | {"resolved_by": "agent" if agent_id else "bot", "agent_id": agent_id}
                | {"created_at": at + timedelta(seconds=30)}
            )
        if len(rows[Message]) >= BATCH:
            counts_of(rows, counts)
            flush()
    counts_of(rows, counts)
    flush()
    session.commit()
    return counts


def counts_of(rows: dict[Any, list[dict[str, Any]]], counts: dict[str, int]) -> None:
    names = {
        Conversation: "conversations",
        Message: "messages",
        KbLookup: "lookups",
        ArticleFeedback: "feedback",
        Handoff: "handoffs",
        ConversationRating: "ratings",
    }
    for model, batch in rows.items():
        counts[names[model]] += len(batch)


def p50(run: Callable[[], object], runs: int) -> float:
    run()  # warm-up: SQLite's page cache, SQLAlchemy's statement cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


@contextlib.contextmanager
def join_path(forced: bool) -> Iterator[None]:
    """The reports work the facts out from the rows, kept or not (``forced``)."""
    if not forced:
        yield
        return
    with (
        mock.patch.object(kpis, "facts_kept", lambda _session: False),
        mock.patch.object(conversation_log, "facts_kept", lambda _session: False),
    ):
        yield


def measure(url: str, runs: int, joins: bool = False) -> dict[str, Any]:
    engine = create_engine_for(url)
    period = ReportRange.of(None, None, "Asia/Shanghai", today=(END - timedelta(days=1)).date())
    results: dict[str, Any] = {}
    with session_factory(engine)() as session, join_path(joins):
        results["facts_kept"] = kpis.facts_kept(session)
        results["summary_p50_s"] = p50(lambda: report(session, period, 120, END), runs)

        def page(**filters: Any) -> Callable[[], object]:
            query = ConversationQuery(period, **filters)
            return lambda: conversation_page(session, query, None, 50)

        results["first_page_p50_s"] = p50(page(), runs)
        _, cursor = conversation_page(session, ConversationQuery(period), None, 50)
        results["second_page_p50_s"] = p50(
            lambda: conversation_page(session, ConversationQuery(period), cursor, 50), runs
        )
        results["page_outcome_abandoned_p50_s"] = p50(page(outcome="abandoned"), runs)
        results["page_outcome_escalated_p50_s"] = p50(page(outcome="escalated"), runs)
        results["page_rating_1_p50_s"] = p50(page(rating=1), runs)
        results["page_article_p50_s"] = p50(page(article_id="article-7"), runs)
        results["page_search_common_p50_s"] = p50(page(text="refund"), runs)
        results["page_search_rare_p50_s"] = p50(page(text="no such words"), runs)
    engine.dispose()
    return results


def prepare(url: str, conversations: int, reuse: bool | None = None) -> dict[str, Any]:
    """The shop in the database: generated, or counted when reused (``None``: when it holds
    conversations already); the rows and the time taken."""
    started = time.perf_counter()
    upgrade_database(url)  # a reused database gets the migrations written since it was made
    engine = create_engine_for(url)
    with session_factory(engine)() as session:
        if reuse is None:
            reuse = bool(session.scalar(select(func.count()).select_from(Conversation)))
        counts = row_counts(session) if reuse else generate(session, conversations)
        if not reuse and engine.dialect.name == "postgresql":
            session.execute(text("ANALYZE"))  # the planner's statistics after a bulk load
            session.commit()
    engine.dispose()
    took = round(time.perf_counter() - started, 1)
    return {"rows": counts, "reused_database": reuse, "generate_s": None if reuse else took}


def insert_cost(url: str, messages: int) -> dict[str, float]:
    """The mean time of storing one message in its own transaction, with the triggers that
    keep the reports' facts and without them (see the module's docstring)."""
    engine = create_engine_for(url)
    results = {}
    try:
        for kept in (True, False):
            with triggers_off(engine, off=not kept):
                took = store_messages(engine, messages, "kept" if kept else "bare")
            results["insert_kept_ms" if kept else "insert_bare_ms"] = round(
                took * 1000 / messages, 3
            )
    finally:
        with engine.begin() as connection:
            connection.execute(delete(Conversation).where(Conversation.id.like("bench-insert-%")))
        engine.dispose()
    return results


def store_messages(engine: Engine, messages: int, name: str) -> float:
    """Seconds to store ``messages`` messages one per transaction: in conversations of ten,
    a customer message then the bot's reply to it."""
    at = END + timedelta(days=1)
    started = 0.0
    conversation_id, last_customer = "", None
    with engine.connect() as connection:
        # Ids given, as the generator gives them (PostgreSQL's sequence was not moved).
        first_id = (connection.scalar(select(func.max(Message.id))) or 0) + 1
        connection.commit()
        for n in range(messages):
            if n % 10 == 0:
                conversation_id = f"bench-insert-{name}-{n}"
                connection.execute(
                    insert(Conversation).values(
                        id=conversation_id,
                        language="en",
                        handled_by="bot",
                        channel="widget",
                        created_at=at,
                        updated_at=at,
                    )
                )
                connection.commit()
            if n == 1:
                started = time.perf_counter()  # the first message is a warm-up
            at += timedelta(seconds=1)
            customer = n % 2 == 0
            connection.execute(
                insert(Message).values(
                    id=first_id + n,
                    conversation_id=conversation_id,
                    sender="customer" if customer else "bot",
                    text="where is my parcel" if customer else "an answer",
                    payload={},
                    reply_to=None if customer else last_customer,
                    awaiting_bot=False,
                    bot_attempts=0,
                    created_at=at,
                )
            )
            if customer:
                last_customer = first_id + n
            connection.commit()
    return (time.perf_counter() - started) * messages / (messages - 1)


@contextlib.contextmanager
def triggers_off(engine: Engine, off: bool) -> Iterator[None]:
    """The triggers that keep the reports' facts, off for the block (if ``off``)."""
    if not off:
        yield
        return
    facts = importlib.import_module("bot.migrations.versions.0010_report_facts")
    names = [(f"{facts.TRIGGER_PREFIX}{t}_{e}", t) for t in facts.FACTS for e in facts.EVENTS]
    assert len(names) == FACT_TRIGGERS
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        for name, table in names:
            if postgres:
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {name}"))
            else:
                connection.execute(text(f"DROP TRIGGER {name}"))
    try:
        yield
    finally:
        with engine.begin() as connection:
            if postgres:
                for name, table in names:
                    connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {name}"))
            else:
                for statement in facts.trigger_statements():
                    connection.execute(text(statement))


def row_counts(session: Session) -> dict[str, int]:
    tables = {
        "conversations": Conversation,
        "messages": Message,
        "lookups": KbLookup,
        "feedback": ArticleFeedback,
        "handoffs": Handoff,
        "ratings": ConversationRating,
    }
    return {
        name: session.scalar(select(func.count()).select_from(model)) or 0
        for name, model in tables.items()
    }


@contextlib.contextmanager
def database(args: argparse.Namespace, folder: Path) -> Iterator[tuple[str, bool | None]]:
    """The URL to generate into or reuse, and whether to reuse it (None: if it holds rows)."""
    if args.postgres:
        # The tests' harness, imported by name: the type checker covers the packages only.
        server = importlib.import_module("tests.servers.postgres").PostgresServer()
        try:
            yield server.create_database("kefu_bench_reports"), False
        finally:
            server.close()
    elif args.database_url:
        yield args.database_url, None
    else:
        path = args.database or folder / "reports.db"
        yield f"sqlite:///{path.resolve()}", path.exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--database",
        type=Path,
        help="a SQLite file: generated there if missing, else reused (migrated to the latest"
        " revision first; --conversations is then ignored)",
    )
    where.add_argument(
        "--database-url",
        help="a database URL (PostgreSQL): generated there if it holds no conversation, else"
        " reused (migrated to the latest revision first)",
    )
    where.add_argument(
        "--postgres",
        action="store_true",
        help="a throw-away PostgreSQL cluster (the tests' harness), removed at the end",
    )
    parser.add_argument(
        "--join-path",
        action="store_true",
        help="work the facts out from the rows even where they are kept (for comparison)",
    )
    parser.add_argument(
        "--insert-cost",
        type=int,
        default=0,
        metavar="N",
        help="then store N messages one per transaction, with and without the triggers",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, database(args, Path(folder)) as (url, reuse):
        results = prepare(url, args.conversations, reuse)
        results |= measure(url, args.runs, args.join_path)
        if args.insert_cost:
            results |= insert_cost(url, args.insert_cost)
        results["engine"] = "sqlite" if sqlite_file(url) else "postgresql"
    results["targets"] = TARGETS
    results["target_text"] = TARGET_TEXT
    results["over_target"] = [name for name, limit in TARGETS.items() if results[name] > limit]
    results["targets_met"] = not results["over_target"]
    results["cpus"] = os.cpu_count()
    results["sqlite_version"] = sqlite3.sqlite_version
    if args.json:
        print(json.dumps(results))
        return
    made = "reused" if results["reused_database"] else f"generated in {results['generate_s']} s"
    print(
        f"{results['engine']}, {made}: " + ", ".join(f"{n} {t}" for t, n in results["rows"].items())
    )
    print("the facts " + ("kept" if results["facts_kept"] else "worked out from the rows"))
    for name, value in results.items():
        if name.endswith("_s") and name != "generate_s":
            target = TARGETS.get(name)
            verdict = "" if target is None else (" ok" if value <= target else " OVER TARGET")
            print(f"{name:32} {value * 1000:9.1f} ms{verdict}")
        elif name.startswith("insert_"):
            print(f"{name:32} {value:9.3f} ms per message")


if __name__ == "__main__":
    main()
