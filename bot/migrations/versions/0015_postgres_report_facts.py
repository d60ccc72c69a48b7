"""The reports' facts of a conversation, kept on it as they happen on PostgreSQL too.

Migration 0010 added the columns (``conversations.customer_messages`` … ``rating_score``,
``messages.bot_reply_s``, ``kb_lookups.top_article_id``) and the SQLite triggers that keep
them; on PostgreSQL the reports worked the facts out from the rows (the "join path"), about ten
times slower. Here the same facts (0010's ``FACTS``: the same queries) are kept by PL/pgSQL
trigger functions, one per source table, each fired after an insert, a delete and an update of
the columns it reads (15 triggers, named as SQLite's), row by row.

**Concurrent writers.** A function works a fact out again from the conversation's rows, like
SQLite's triggers. Under READ COMMITTED two transactions writing to one conversation at once
would each compute it from a snapshot without the other's row: an ``UPDATE … SET x =
(SELECT …)`` waits for the row lock but its subquery keeps the snapshot taken before the wait,
so the later commit could write a fact that misses the earlier row. Each function therefore
first locks the conversations it touches (``SELECT … FOR NO KEY UPDATE``, ids sorted), and
only then works the facts out, in statements that each take a new snapshot: the writers to
one conversation take turns, and the last one sees every committed row. ``FOR NO KEY UPDATE``,
not ``FOR UPDATE``: inserting a row that references the conversation holds ``FOR KEY SHARE``
on it (the foreign key's check) until commit, which ``FOR UPDATE`` waits for, so two writers
would deadlock on each other's key share; ``FOR NO KEY UPDATE`` is the lock an ``UPDATE`` of
the conversation takes anyway (a customer message already updates ``updated_at``).

A bot reply's time is set on the customer message it answers, in the same conversation: the
same lock covers it. A lookup's top article is its own row's.

The rows stored so far are filled in after the triggers are created, in the migration's
transaction: ``CREATE TRIGGER`` holds a lock that keeps other writers out of the tables until
it commits, so no write falls between the fill and the triggers. One ``UPDATE`` per source
table, not in batches: a batch would not commit before the others (one transaction), and the
correlated lookups are indexed (2.8 s for 10,000 conversations, 150k rows, on 2 shared cores).

Nothing on SQLite (0010 keeps them there).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-13
"""

import importlib

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The facts and their queries, as 0010 keeps them on SQLite (plain SQL both engines read).
report_facts = importlib.import_module("bot.migrations.versions.0010_report_facts")
FACTS: dict[str, tuple[str, dict[str, str]]] = report_facts.FACTS
TRIGGER_PREFIX: str = report_facts.TRIGGER_PREFIX
EVENTS: tuple[str, ...] = report_facts.EVENTS

# A lookup's top article, set on the lookup itself (``hits`` is json).
TOP_ARTICLE = "top_article_id = hits -> 0 ->> 'article_id'"

# A customer message's bot reply time, set on the message being updated: the expression the
# join path computes on PostgreSQL (bot/analytics/sql.py seconds_between), so the values are
# the same.
BOT_REPLY = (
    "bot_reply_s = CASE WHEN sender = 'customer' THEN"
    " (SELECT CAST(EXTRACT(EPOCH FROM min(reply.created_at) - messages.created_at) AS FLOAT)"
    " FROM messages AS reply WHERE reply.reply_to = messages.id AND reply.sender = 'bot') END"
)


def _facts_of(values: dict[str, str], conversation: str) -> str:
    return (
        f"UPDATE conversations SET {report_facts._assignments(values, conversation)}"
        f" WHERE id = {conversation};"
    )


def _bot_reply_of(message: str) -> str:
    return f"UPDATE messages SET {BOT_REPLY} WHERE id = {message};"


def function_statement(table: str) -> str:
    """The table's trigger function: lock the conversations the row is (and was) in, work
    their facts out again, then what the row itself keeps (a lookup's top article, the bot
    reply time of the message a reply answers)."""
    _, values = FACTS[table]
    body = [
        "PERFORM 1 FROM conversations"
        " WHERE id IN (OLD.conversation_id, NEW.conversation_id) ORDER BY id FOR NO KEY UPDATE;",
        f"IF TG_OP <> 'INSERT' THEN {_facts_of(values, 'OLD.conversation_id')} END IF;",
        "IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE'"
        " AND NEW.conversation_id IS DISTINCT FROM OLD.conversation_id) THEN"
        f" {_facts_of(values, 'NEW.conversation_id')} END IF;",
    ]
    if table == "kb_lookups":
        body.append(
            f"IF TG_OP <> 'DELETE' THEN UPDATE kb_lookups SET {TOP_ARTICLE}"
            " WHERE id = NEW.id; END IF;"
        )
    if table == "messages":  # the message a bot reply answers, and the message itself
        body += [
            f"IF TG_OP = 'INSERT' AND NEW.sender = 'bot' THEN {_bot_reply_of('NEW.reply_to')}"
            " END IF;",
            f"IF TG_OP <> 'INSERT' THEN {_bot_reply_of('OLD.reply_to')} END IF;",
            "IF TG_OP = 'UPDATE' THEN"
            " IF NEW.reply_to IS DISTINCT FROM OLD.reply_to THEN"
            f" {_bot_reply_of('NEW.reply_to')} END IF;"
            f" {_bot_reply_of('NEW.id')} END IF;",
        ]
    return (
        f"CREATE OR REPLACE FUNCTION {TRIGGER_PREFIX}{table}() RETURNS trigger"
        f" LANGUAGE plpgsql AS $$ BEGIN {' '.join(body)} RETURN NULL; END $$"
    )


def trigger_statements() -> list[str]:
    """A function per source table, and three triggers calling it: after an insert, a delete,
    an update of what it reads."""
    statements = []
    for table, (columns, _) in FACTS.items():
        statements.append(function_statement(table))
        for event in EVENTS:
            when = f"UPDATE OF {columns}" if event == "update" else event.upper()
            statements.append(
                f"CREATE TRIGGER {TRIGGER_PREFIX}{table}_{event} AFTER {when} ON {table}"
                f" FOR EACH ROW EXECUTE FUNCTION {TRIGGER_PREFIX}{table}()"
            )
    return statements


def backfill_statements() -> list[str]:
    """The facts of the rows stored so far: every conversation's, every answered message's,
    every lookup's."""
    conversations = [
        f"UPDATE conversations SET {report_facts._assignments(values, 'conversations.id')}"
        for _, values in FACTS.values()
    ]
    replies = (
        f"UPDATE messages SET {BOT_REPLY} WHERE sender = 'customer' AND id IN"
        " (SELECT reply_to FROM messages WHERE reply_to IS NOT NULL AND sender = 'bot')"
    )
    return [*conversations, replies, f"UPDATE kb_lookups SET {TOP_ARTICLE}"]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in trigger_statements() + backfill_statements():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in FACTS:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}{table}_{event} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {TRIGGER_PREFIX}{table}()")
