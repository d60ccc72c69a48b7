"""Articles belong to a topic: an article and its translations, one article per language.

Adds ``topic_id`` to ``articles`` and ``article_versions``. Every existing article (and each of
its versions) becomes its own topic, ``topic_id = id``. Then the naming of the demo knowledge
base (``kb/demo/articles.jsonl``), where the Chinese translation of ``<id>`` is ``<id>-zh``, is
read as links: where both exist and their languages differ, ``<id>-zh`` (all its versions)
joins ``<id>``'s topic. Other translations are linked afterwards, in the editor console or with
``translation_of`` in an import.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = (("articles", "id"), ("article_versions", "article_id"))
_SUFFIX = "-zh"


def _demo_pairs(connection: sa.Connection) -> dict[str, str]:
    """``{"<id>-zh": "<id>"}`` for each pair of the demo naming in two languages."""
    articles = sa.table("articles", sa.column("id"), sa.column("language"))
    query = sa.select(articles.c.id, articles.c.language)
    language = {article_id: lang for article_id, lang in connection.execute(query)}
    pairs: dict[str, str] = {}
    for article_id in sorted(language):
        twin = article_id.removesuffix(_SUFFIX)
        # "<id>" must keep its own topic: not linked itself (sorted, "x-zh" comes before "x-zh-zh").
        if (
            twin != article_id
            and twin in language
            and language[twin] != language[article_id]
            and twin not in pairs
        ):
            pairs[article_id] = twin
    return pairs


def upgrade() -> None:
    for table, id_column in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("topic_id", sa.String(80), nullable=True))
        rows = sa.table(table, sa.column(id_column), sa.column("topic_id"))
        op.execute(rows.update().values(topic_id=rows.c[id_column]))
    connection = op.get_bind()
    for article_id, twin in _demo_pairs(connection).items():
        for table, id_column in _TABLES:
            rows = sa.table(table, sa.column(id_column), sa.column("topic_id"))
            connection.execute(
                rows.update().where(rows.c[id_column] == article_id).values(topic_id=twin)
            )
    for table, _ in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("topic_id", existing_type=sa.String(80), nullable=False)
            batch.create_index(f"ix_{table}_topic_id", ["topic_id"])


def downgrade() -> None:
    for table, _ in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_topic_id")
            batch.drop_column("topic_id")
