"""The schema's migrations on a database that holds data: 0005 gives every article a topic,
0007 every conversation a channel, 0008 indexes the messages already stored for search, 0009
gives the lookups an intent, 0010 keeps the reports' facts on the conversations and messages
(SQLite), 0012 adds the canned replies, 0014 indexes the messages for search on PostgreSQL,
0015 keeps the reports' facts on PostgreSQL. And from
nothing, the migrations make the schema the models describe.

They run on the run's engine: SQLite, or PostgreSQL with KEFU_TEST_DATABASE=postgres."""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

# Every model module, so the metadata holds every table.
import bot.auth.models
import bot.conversations.models
import bot.handoff.models  # noqa: F401
from bot.analytics import kpis, message_search
from bot.database import downgrade_database, metadata, upgrade_database
from db.engine import create_engine_for, session_factory
from tests.bot.analytics.facts import assert_kept_right, kept, reply_times, top_articles
from tests.bot.analytics.seed import conversation
from tests.bot.analytics.test_message_search import CASES as SEARCH_CASES
from tests.bot.analytics.test_message_search import DAY as SEARCH_DAY
from tests.bot.analytics.test_message_search import TEXTS as SEARCHED
from tests.bot.analytics.test_message_search import found
from tests.servers.databases import FreshDatabases, on_postgres
from tests.servers.postgres import PostgresServer

SQLITE_ONLY_FACTS = pytest.mark.sqlite_only(
    "0010 keeps the report facts on SQLite (as its text timestamps); 0015's tests cover PostgreSQL"
)


@pytest.fixture
def url(tmp_path: Path, fresh_databases: FreshDatabases) -> Iterator[str]:
    """An empty database (no migration run yet) on the run's engine."""
    with fresh_databases.fresh(tmp_path, migrated=False) as url:
        yield url


def triggers(url: str) -> list[str]:
    """The names of the database's triggers, sorted (PostgreSQL: the ones users made)."""
    query = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        if on_postgres()
        else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    )
    engine = create_engine_for(url)
    with engine.connect() as connection:
        found = sorted(name for (name,) in connection.execute(text(query)))
    engine.dispose()
    return found


ROWS = [  # (id, language): the demo naming, a pair in one language, and an unpaired article
    ("returns-policy", "en"),
    ("returns-policy-zh", "zh"),
    ("gift-card", "en"),
    ("gift-card-zh", "en"),
    ("installment-payment-zh", "zh"),
]


def insert_articles(url: str) -> None:
    engine = create_engine_for(url)
    now = "2026-11-20 10:00:00.000000"
    with engine.begin() as connection:
        for article_id, language in ROWS:
            fields = {
                "id": article_id,
                "title": article_id,
                "body": "Body.",
                "questions": "[]",
                "category": "general",
                "tags": "[]",
                "language": language,
                "status": "published",
                "now": now,
            }
            connection.execute(
                text(
                    "INSERT INTO articles (id, version, title, body, questions, category, tags,"
                    " language, status, created_at, updated_at) VALUES (:id, 1, :title, :body,"
                    " :questions, :category, :tags, :language, :status, :now, :now)"
                ),
                fields,
            )
            connection.execute(
                text(
                    "INSERT INTO article_versions (article_id, version, title, body, questions,"
                    " category, tags, language, status, created_at) VALUES (:id, 1, :title,"
                    " :body, :questions, :category, :tags, :language, :status, :now)"
                ),
                fields,
            )
    engine.dispose()


def topics(url: str, table: str, id_column: str) -> dict[str, str]:
    engine = create_engine_for(url)
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT {id_column}, topic_id FROM {table}"))
        found = {article_id: topic_id for article_id, topic_id in rows}
    engine.dispose()
    return found


def test_0005_backfills_topics_and_links_the_demo_pairs(url: str) -> None:
    upgrade_database(url, "0004")
    insert_articles(url)
    upgrade_database(url)
    expected = {
        "returns-policy": "returns-policy",
        "returns-policy-zh": "returns-policy",  # <id>-zh in another language joins <id>
        "gift-card": "gift-card",
        "gift-card-zh": "gift-card-zh",  # the same language: not a translation
        "installment-payment-zh": "installment-payment-zh",
    }
    assert topics(url, "articles", "id") == expected
    assert topics(url, "article_versions", "article_id") == expected


def test_0005_downgrades_and_upgrades_again(url: str) -> None:
    upgrade_database(url, "0004")
    insert_articles(url)
    upgrade_database(url)
    downgrade_database(url, "0004")
    engine = create_engine_for(url)
    columns = {c["name"] for c in inspect(engine).get_columns("articles")}
    versions = {c["name"] for c in inspect(engine).get_columns("article_versions")}
    engine.dispose()
    assert "topic_id" not in columns | versions
    upgrade_database(url)
    assert topics(url, "articles", "id")["returns-policy-zh"] == "returns-policy"


def test_0007_gives_existing_conversations_the_widget_channel_and_indexes(url: str) -> None:
    upgrade_database(url, "0006")
    engine = create_engine_for(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conversations (id, language, handled_by, created_at, updated_at)"
                " VALUES ('c1', 'zh', 'bot', '2026-11-20 10:00:00.000000',"
                " '2026-11-20 10:00:00.000000')"
            )
        )
    upgrade_database(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT channel FROM conversations")).scalar() == "widget"
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("messages")}
    created = {i["name"] for i in inspect(engine).get_indexes("conversations")}
    engine.dispose()
    assert indexes["ix_messages_conversation_sender"] == ["conversation_id", "sender", "created_at"]
    assert "ix_conversations_created_at" in created
    assert "ix_messages_conversation_id" not in indexes


def test_0007_downgrades_and_upgrades_again(url: str) -> None:
    upgrade_database(url)
    downgrade_database(url, "0006")
    engine = create_engine_for(url)
    columns = {c["name"] for c in inspect(engine).get_columns("conversations")}
    indexes = {i["name"] for i in inspect(engine).get_indexes("messages")}
    engine.dispose()
    assert "channel" not in columns
    assert "ix_messages_conversation_sender" not in indexes
    assert "ix_messages_conversation_id" in indexes
    upgrade_database(url)


def test_0008_indexes_the_messages_already_stored(url: str) -> None:
    upgrade_database(url, "0007")
    engine = create_engine_for(url)
    stamp = "'2026-11-20 10:00:00.000000'"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conversations (id, language, handled_by, channel, created_at,"
                f" updated_at) VALUES ('c1', 'zh', 'bot', 'widget', {stamp}, {stamp})"
            )
        )
        connection.execute(
            text(
                "INSERT INTO messages (conversation_id, sender, text, payload, awaiting_bot,"
                f" bot_attempts, created_at) VALUES ('c1', 'customer', '我想申请退款', '{{}}',"
                f" FALSE, 0, {stamp})"
            )
        )
    upgrade_database(url)
    with engine.connect() as connection:
        if on_postgres():  # 0014's trigram index serves ILIKE
            plan = "EXPLAIN SELECT id FROM messages WHERE text ILIKE :pattern"
            connection.execute(text("SET enable_seqscan = off"))  # one row: force the index
            used = connection.execute(text(plan), {"pattern": "%申请退%"}).scalars().all()
            assert any("ix_messages_text_trgm" in line for line in used)
            match = "SELECT id FROM messages WHERE text ILIKE :pattern"
            assert connection.execute(text(match), {"pattern": "%申请退%"}).all() == [(1,)]
        else:
            match = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH :phrase"
            assert connection.execute(text(match), {"phrase": '"申请退"'}).all() == [(1,)]
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("messages")}
    engine.dispose()
    assert indexes["ix_messages_reply_to"] == ["reply_to", "sender", "created_at"]


def test_0008_downgrades_and_upgrades_again(url: str) -> None:
    upgrade_database(url)
    downgrade_database(url, "0007")
    engine = create_engine_for(url)
    tables = set(inspect(engine).get_table_names())
    indexes = {i["name"] for i in inspect(engine).get_indexes("messages")}
    engine.dispose()
    assert triggers(url) == []
    assert "messages_fts" not in tables
    assert "ix_messages_reply_to" not in indexes
    assert "ix_messages_text_trgm" not in indexes
    upgrade_database(url)


@pytest.mark.parametrize("created_by_a_superuser", [False, True])
def test_0014_on_a_login_that_may_not_create_pg_trgm(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture, created_by_a_superuser: bool
) -> None:
    """A least-privilege login (tables in its schema, no CREATE on the database: no extension)
    migrates all the same: without the index, said in the log, the search reading the messages;
    with the extension a superuser created beforehand, with the index."""
    name = f"kefu_least_{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    postgres_server.admin_execute(
        f"CREATE ROLE {name} LOGIN PASSWORD '{password}'", f"CREATE DATABASE {name}"
    )
    admin = create_engine_for(postgres_server.url(name, admin=True))
    with admin.begin() as connection:  # PostgreSQL 15 grants nothing on public by default
        connection.execute(text(f"GRANT USAGE, CREATE ON SCHEMA public TO {name}"))
        if created_by_a_superuser:
            connection.execute(text("CREATE EXTENSION pg_trgm"))
    admin.dispose()
    url = f"postgresql+psycopg://{name}:{password}@127.0.0.1:{postgres_server.port}/{name}"
    try:
        with caplog.at_level(logging.WARNING):
            upgrade_database(url)
        assert ("permission denied" in caplog.text) is not created_by_a_superuser
        engine = create_engine_for(url)
        indexes = {i["name"] for i in inspect(engine).get_indexes("messages")}
        assert ("ix_messages_text_trgm" in indexes) is created_by_a_superuser
        assert "ix_messages_reply_to" in indexes  # the other migrations ran
        with session_factory(engine)() as session:
            for n, (conversation_id, said) in enumerate(SEARCHED.items()):
                seeded = conversation(session, SEARCH_DAY, id=conversation_id)
                seeded.customer(said, after=n).bot("an answer")
            session.commit()
            assert message_search.has_message_index(session) is created_by_a_superuser
            for query, ids in SEARCH_CASES:
                assert found(session, query) == ids, query
        engine.dispose()
    finally:
        postgres_server.drop_database(name)
        postgres_server.admin_execute(f"DROP ROLE {name}")


def insert_lookup_with_feedback(url: str) -> None:
    """A conversation, a lookup and feedback linked to it, as stored before 0009."""
    engine = create_engine_for(url)
    stamp = "'2026-11-20 10:00:00.000000'"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conversations (id, language, handled_by, channel, created_at,"
                f" updated_at) VALUES ('c1', 'en', 'bot', 'widget', {stamp}, {stamp})"
            )
        )
        connection.execute(
            text(
                "INSERT INTO kb_lookups (id, conversation_id, question, language, band, hits,"
                f" created_at) VALUES (1, 'c1', 'refund?', 'en', 'high', '[]', {stamp})"
            )
        )
        connection.execute(
            text(
                "INSERT INTO article_feedback (conversation_id, article_id, version, helpful,"
                f" lookup_id, created_at) VALUES ('c1', 'returns-policy', 1, TRUE, 1, {stamp})"
            )
        )
    engine.dispose()


def test_0009_keeps_existing_lookups_without_an_intent(url: str) -> None:
    upgrade_database(url, "0008")
    insert_lookup_with_feedback(url)
    upgrade_database(url)
    engine = create_engine_for(url)
    with engine.begin() as connection:
        query = "SELECT question, intent, intent_confidence FROM kb_lookups"
        assert connection.execute(text(query)).all() == [("refund?", None, None)]
        connection.execute(
            text("UPDATE kb_lookups SET intent = 'ask_refund', intent_confidence = 0.93")
        )
        assert connection.execute(text(query)).all() == [("refund?", "ask_refund", 0.93)]
    engine.dispose()


def test_0009_downgrades_and_upgrades_again(url: str) -> None:
    upgrade_database(url, "0008")
    insert_lookup_with_feedback(url)
    upgrade_database(url)
    downgrade_database(url, "0008")
    engine = create_engine_for(url)
    columns = {c["name"] for c in inspect(engine).get_columns("kb_lookups")}
    with engine.connect() as connection:
        # Dropping the columns (SQLite rebuilds the table) keeps the feedback linked to it.
        linked = connection.execute(text("SELECT lookup_id FROM article_feedback")).scalar()
    engine.dispose()
    assert "intent" not in columns
    assert "intent_confidence" not in columns
    assert linked == 1
    upgrade_database(url)


def insert_a_conversation_of_each_kind(url: str) -> None:
    """As stored before 0010: c1 answered, looked up, marked not helpful, handed off twice and
    rated; c2 with an unanswered customer message only; c3 without any message."""
    engine = create_engine_for(url)
    rows = [
        "INSERT INTO conversations (id, language, handled_by, channel, created_at, updated_at)"
        " VALUES ('c1', 'en', 'bot', 'widget', '2026-11-20 10:00:00.000000', '2026-11-20"
        " 10:00:00.000000'), ('c2', 'en', 'bot', 'widget', '2026-11-20 11:00:00.000000',"
        " '2026-11-20 11:00:00.000000'), ('c3', 'en', 'bot', 'widget', '2026-11-20"
        " 12:00:00.000000', '2026-11-20 12:00:00.000000')",
        "INSERT INTO messages (id, conversation_id, sender, text, payload, reply_to, awaiting_bot,"
        " bot_attempts, created_at) VALUES"
        " (1, 'c1', 'customer', 'refund?', '{}', NULL, FALSE, 0, '2026-11-20 10:00:01.000000'),"
        " (2, 'c1', 'bot', 'an answer', '{}', 1, FALSE, 0, '2026-11-20 10:00:03.500000'),"
        " (3, 'c1', 'bot', 'and more', '{}', 1, FALSE, 0, '2026-11-20 10:00:09.000000'),"
        " (4, 'c1', 'customer', 'thanks', '{}', NULL, FALSE, 0, '2026-11-20 10:01:00.000000'),"
        " (5, 'c2', 'customer', 'hello?', '{}', NULL, FALSE, 0, '2026-11-20 11:00:01.000000')",
        "INSERT INTO kb_lookups (id, conversation_id, question, language, band, hits, created_at)"
        " VALUES (1, 'c1', 'refund?', 'en', 'clarify', '[]', '2026-11-20 10:00:02.000000'),"
        " (2, 'c1', 'refund?', 'en', 'answer', '[{\"article_id\": \"returns-policy\"}]',"
        " '2026-11-20 10:00:03.000000')",
        "INSERT INTO article_feedback (conversation_id, article_id, version, helpful, lookup_id,"
        " created_at) VALUES ('c1', 'returns-policy', 1, TRUE, 2, '2026-11-20 10:00:04.000000'),"
        " ('c1', 'returns-policy', 1, FALSE, 2, '2026-11-20 10:00:05.000000')",
        "INSERT INTO handoffs (conversation_id, status, reason, language, summary, sentiment,"
        " topic_priority, packet, created_at) VALUES ('c1', 'resolved', 'frustration', 'en', '',"
        " 0, 0, '{}', '2026-11-20 10:02:00.000000'), ('c1', 'waiting', 'requested', 'en', '', 0,"
        " 0, '{}', '2026-11-20 10:03:00.000000')",
        "INSERT INTO conversation_ratings (conversation_id, score, resolved_by, created_at)"
        " VALUES ('c1', 2, 'agent', '2026-11-20 10:05:00.000000')",
    ]
    with engine.begin() as connection:
        for row in rows:
            connection.execute(text(row))
    engine.dispose()


EVENTS = ("delete", "insert", "update")
FACTS = (
    "SELECT id, customer_messages, last_customer_message_id, last_customer_message_at,"
    " last_bot_message_id, last_lookup_band, last_lookup_at, last_feedback_helpful,"
    " last_feedback_at, first_handoff_reason, rating_score FROM conversations ORDER BY id"
)


@SQLITE_ONLY_FACTS
def test_0010_keeps_the_facts_of_the_rows_already_stored(url: str) -> None:
    upgrade_database(url, "0009")
    insert_a_conversation_of_each_kind(url)
    upgrade_database(url)
    engine = create_engine_for(url)
    with engine.begin() as connection:
        assert connection.execute(text(FACTS)).all() == [
            (
                *("c1", 2, 4, "2026-11-20 10:01:00.000000", 3),  # messages
                *("answer", "2026-11-20 10:00:03.000000"),  # the second lookup
                *(0, "2026-11-20 10:00:05.000000"),  # the second feedback: not helpful
                *("frustration", 2),
            ),
            ("c2", 1, 5, "2026-11-20 11:00:01.000000") + (None,) * 7,
            ("c3", 0) + (None,) * 9,
        ]
        replies = "SELECT id, bot_reply_s FROM messages WHERE sender = 'customer' ORDER BY id"
        assert [(i, round(s, 3) if s else s) for i, s in connection.execute(text(replies))] == [
            (1, 2.5),  # the first of two replies
            (4, None),
            (5, None),
        ]
        tops = "SELECT id, top_article_id FROM kb_lookups ORDER BY id"
        assert connection.execute(text(tops)).all() == [(1, None), (2, "returns-policy")]
        # The triggers keep them from now on.
        connection.execute(
            text(
                "INSERT INTO messages (conversation_id, sender, text, payload, reply_to,"
                " awaiting_bot, bot_attempts, created_at) VALUES ('c2', 'bot', 'hi', '{}', 5,"
                " FALSE, 0, '2026-11-20 11:00:02.000000')"
            )
        )
        assert connection.execute(text(replies)).all()[-1] == (5, pytest.approx(1.0, abs=0.001))
        assert connection.execute(text(FACTS)).all()[1][4] == 6
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("messages")}
    lookup_indexes = {
        i["name"]: i["column_names"] for i in inspect(engine).get_indexes("kb_lookups")
    }
    engine.dispose()
    assert indexes["ix_messages_bot_reply"] == ["conversation_id", "bot_reply_s"]
    assert lookup_indexes["ix_kb_lookups_offered"] == ["conversation_id", "band", "top_article_id"]


def test_0010_downgrades_and_upgrades_again(url: str) -> None:
    upgrade_database(url, "0009")
    insert_a_conversation_of_each_kind(url)
    upgrade_database(url)
    downgrade_database(url, "0009")
    engine = create_engine_for(url)
    columns = {c["name"] for c in inspect(engine).get_columns("conversations")}
    message_columns = {c["name"] for c in inspect(engine).get_columns("messages")}
    lookup_columns = {c["name"] for c in inspect(engine).get_columns("kb_lookups")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM messages")).scalar() == 5
    engine.dispose()
    # The full-text triggers of 0008 are still there: the messages were not copied.
    expected = [] if on_postgres() else [f"messages_fts_{event}" for event in EVENTS]
    assert triggers(url) == expected
    assert {"customer_messages", "first_handoff_reason", "rating_score"}.isdisjoint(columns)
    assert "bot_reply_s" not in message_columns
    assert "top_article_id" not in lookup_columns
    upgrade_database(url)  # filled in again: by 0010 on SQLite, 0015 on PostgreSQL
    engine = create_engine_for(url)
    with engine.connect() as connection:
        assert connection.execute(text(FACTS)).all()[0][:3] == ("c1", 2, 4)
    engine.dispose()


def test_0015_fills_the_facts_of_the_rows_already_stored_and_keeps_them(url: str) -> None:
    """On PostgreSQL 0015 fills them in (0010 added the columns only); on SQLite they were
    kept since 0010. Either way they equal the facts worked out from the rows."""
    upgrade_database(url, "0014")
    insert_a_conversation_of_each_kind(url)
    upgrade_database(url)
    engine = create_engine_for(url)
    with session_factory(engine)() as session:
        assert_kept_right(session)
        facts = kept(session)
        assert facts["c1"][:2] == (2, 4) and facts["c1"][3:5] == (3, "answer")
        assert facts["c1"][6:] == (False, facts["c1"][7], "frustration", 2, "escalated")
        assert facts["c2"][:2] == (1, 5) and facts["c2"][-1] == "abandoned"
        assert facts["c3"][0] == 0
        stored, _ = reply_times(session)
        assert stored == {1: pytest.approx(2.5, abs=0.001), 4: None, 5: None}
        assert top_articles(session) == [(None, None), ("returns-policy", "returns-policy")]
        assert kpis.facts_kept(session)
        # The triggers keep them from now on (ids given: PostgreSQL's sequences were not
        # moved by the rows inserted with theirs).
        session.execute(
            text(
                "INSERT INTO messages (id, conversation_id, sender, text, payload, reply_to,"
                " awaiting_bot, bot_attempts, created_at) VALUES (6, 'c2', 'bot', 'hi', '{}', 5,"
                " FALSE, 0, '2026-11-20 11:00:02.000000')"
            )
        )
        assert_kept_right(session)
        assert kept(session)["c2"][3] == 6
        assert reply_times(session)[0][5] == pytest.approx(1.0, abs=0.001)
    engine.dispose()


def test_0015_downgrades_and_upgrades_again(url: str) -> None:
    upgrade_database(url, "0014")
    insert_a_conversation_of_each_kind(url)
    upgrade_database(url)
    downgrade_database(url, "0014")
    facts_triggers = [name for name in triggers(url) if name.startswith("report_facts_")]
    engine = create_engine_for(url)
    with session_factory(engine)() as session:
        kept_now = kpis.facts_kept(session)
        functions = []
        if on_postgres():
            functions = session.scalars(
                text("SELECT proname FROM pg_proc WHERE proname LIKE 'report^_facts^_%' ESCAPE '^'")
            ).all()
    engine.dispose()
    if on_postgres():  # no trigger, no function: the reports work the facts out
        assert (facts_triggers, functions, kept_now) == ([], [], False)
    else:  # 0010's, untouched
        assert len(facts_triggers) == kpis.FACT_TRIGGERS and kept_now
    upgrade_database(url)
    assert len([n for n in triggers(url) if n.startswith("report_facts_")]) == kpis.FACT_TRIGGERS


def test_0012_adds_canned_replies_and_keeps_shortcuts_unique(url: str) -> None:
    upgrade_database(url)
    engine = create_engine_for(url)
    insert = (
        "INSERT INTO canned_replies (owner_id, shortcut, language, title, body, created_at,"
        " updated_at) VALUES (NULL, 'refund', :language, 'Refund', 'Hi {customer_name}',"
        " '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
    )
    with engine.begin() as connection:
        connection.execute(text(insert), {"language": "en"})
        connection.execute(text(insert), {"language": "zh"})
    # Two shared replies with one shortcut in one language: NULL owners are no way around it.
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(insert), {"language": "en"})
    engine.dispose()
    downgrade_database(url, "0011")
    engine = create_engine_for(url)
    assert "canned_replies" not in inspect(engine).get_table_names()
    engine.dispose()
    upgrade_database(url)
    engine = create_engine_for(url)
    assert {c["name"] for c in inspect(engine).get_columns("canned_replies")} >= {
        "owner_id",
        "shortcut",
        "language",
        "title",
        "body",
    }
    engine.dispose()


# Made by migrations for the text search alone, on one engine: no model describes them.
SEARCH_ONLY = ("messages_fts", "ix_messages_text_trgm")


def _described_by_no_model(difference: Any) -> bool:
    kind, thing = difference[0], difference[1]
    return kind in ("remove_table", "remove_index") and thing.name.startswith(SEARCH_ONLY)


def test_from_nothing_the_migrations_make_the_schema_of_the_models(url: str) -> None:
    upgrade_database(url)
    engine = create_engine_for(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert [d for d in differences if not _described_by_no_model(d)] == []


# One service worker at start: its imports first, then the upgrade at the agreed moment.
_WORKER_UPGRADE = """
import sys, time
from bot.database import upgrade_database
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
upgrade_database(sys.argv[1])
"""


def test_workers_that_upgrade_an_empty_postgres_database_at_once_all_start(url: str) -> None:
    """``kefu stack up --workers 3`` on a database that needs migrating: every worker runs the
    migrations as it starts; they take turns, and the later ones find the schema current
    (without the turns, the second failed on "relation … already exists")."""
    if not on_postgres():
        pytest.skip("concurrent migrations on PostgreSQL: run with KEFU_TEST_DATABASE=postgres")
    start_at = str(time.time() + 4)  # after every process's imports
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER_UPGRADE, url, start_at],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0, 0], "\n".join(outputs)
    engine = create_engine_for(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
        versions = connection.execute(text("SELECT count(*) FROM alembic_version")).scalar()
    engine.dispose()
    assert versions == 1
    assert [d for d in differences if not _described_by_no_model(d)] == []


def test_0013_adds_the_mail_tables_as_the_models_describe_them(url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import bot.mail.models  # noqa: F401  (registers the mail tables)
    from bot.database import metadata

    upgrade_database(url)
    engine = create_engine_for(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()

    def about_mail(difference: object) -> bool:
        text_of = repr(difference)
        return "mail_" in text_of or "contact_email" in text_of

    assert [d for d in differences if about_mail(d)] == []


def test_0013_keeps_outbox_message_ids_unique_and_downgrades(url: str) -> None:
    upgrade_database(url)
    engine = create_engine_for(url)
    stamp = "'2026-12-08 10:00:00.000000'"
    insert = (
        "INSERT INTO mail_outbox (conversation_id, kind, to_address, subject, body_text,"
        " body_html, language, message_id_header, status, attempts, next_attempt_at,"
        f" created_at) VALUES ('c1', 'confirmation', 'jane@example.com', 's', 't', 'h', 'en',"
        f" '<m1@shop.test>', 'queued', 0, {stamp}, {stamp})"
    )
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conversations (id, language, handled_by, channel, contact_email,"
                f" created_at, updated_at) VALUES ('c1', 'en', 'bot', 'widget',"
                f" 'jane@example.com', {stamp}, {stamp})"
            )
        )
        connection.execute(text(insert))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(insert))  # the same Message-ID twice
    engine.dispose()
    downgrade_database(url, "0012")
    engine = create_engine_for(url)
    tables = set(inspect(engine).get_table_names())
    columns = {c["name"] for c in inspect(engine).get_columns("conversations")}
    with engine.connect() as connection:
        # The conversation is kept, and so are the report triggers of 0010 (SQLite's).
        assert connection.execute(text("SELECT count(*) FROM conversations")).scalar() == 1
    engine.dispose()
    assert bool(triggers(url)) == (not on_postgres())
    assert {"mail_outbox", "mail_inbox", "mail_cursor"}.isdisjoint(tables)
    assert "contact_email" not in columns
    upgrade_database(url)
