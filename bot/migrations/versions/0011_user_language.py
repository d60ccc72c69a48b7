"""The language of a member of staff's consoles.

Adds ``users.language``, nullable: 'en' or 'zh' once the user picks one in a console (PATCH
/api/v1/auth/me); none means the consoles follow the browser's language (docs/api.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
