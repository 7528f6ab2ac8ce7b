"""People with personal tokens, leases in the database, and the time each annotation took.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
        sa.UniqueConstraint("name", name="uq_people_name"),
        sa.UniqueConstraint("token_sha256", name="uq_people_token_sha256"),
    )
    op.create_table(
        "leases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_key", sa.Integer, sa.ForeignKey("images.key"), nullable=False),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.UniqueConstraint("image_key", "person", name="uq_leases_image_key"),
    )
    op.create_index("ix_leases_image_key", "leases", ["image_key"])
    with op.batch_alter_table("annotations") as batch:
        batch.add_column(sa.Column("seconds", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("annotations") as batch:
        batch.drop_column("seconds")
    op.drop_table("leases")
    op.drop_table("people")
