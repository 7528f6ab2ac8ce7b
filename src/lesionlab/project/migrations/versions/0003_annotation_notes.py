"""An annotator's "unsure" flag and free-text comment on each annotation.

Existing annotations get `unsure = false` and no comment, filled by the server default. The default is the
constant '0' (false on SQLite and PostgreSQL alike), not an SQL expression such as `sa.false()`: with an
expression Alembic's batch mode rebuilds the SQLite table (copy, drop, rename), and dropping `annotations`
fails while audit flags refer to it (foreign keys are on), so such a store could not be opened.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("unsure", sa.Boolean, nullable=False, server_default="0"))
        batch.add_column(sa.Column("comment", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("comment")
        batch.drop_column("unsure")
