"""Which model's proposal a mask accepted unchanged ("model vN"), or none: drawn by its annotator.

Existing annotations get none (they were stored before the server compared; the history reads none as
drawn). A plain nullable column: Alembic's batch mode adds it in place on SQLite.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("accepted", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("accepted")
