"""The first schema: images, annotations, skips, model versions, proposal rounds, proposals, audit flags.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("key", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.String(512), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size_bytes", sa.Integer),
        sa.Column("width", sa.Integer),
        sa.Column("height", sa.Integer),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("problem", sa.Text),
        sa.Column("added_at", TZ, nullable=False),
        sa.UniqueConstraint("image_id", name="uq_images_image_id"),
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_key", sa.Integer, sa.ForeignKey("images.key"), nullable=False),
        sa.Column("label", sa.Integer),
        sa.Column("mask_path", sa.String(1024)),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("retracted_at", TZ),
        sa.Column("retracted_by", sa.String(128)),
        sa.UniqueConstraint("request_id", name="uq_annotations_request_id"),
    )
    op.create_index("ix_annotations_image_key", "annotations", ["image_key"])
    op.create_table(
        "skips",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_key", sa.Integer, sa.ForeignKey("images.key"), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_skips_image_key", "skips", ["image_key"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("checkpoint", sa.String(1024), nullable=False),
        sa.Column("n_labels", sa.Integer, nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
    )
    op.create_table(
        "proposal_rounds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("model_version_id", sa.Integer, sa.ForeignKey("model_versions.id")),
        sa.Column("budget", sa.Integer, nullable=False),
        sa.Column("n_labels", sa.Integer, nullable=False),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("round_id", sa.Integer, sa.ForeignKey("proposal_rounds.id"), nullable=False),
        sa.Column("image_key", sa.Integer, sa.ForeignKey("images.key"), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("prediction", sa.JSON),
        sa.UniqueConstraint("round_id", "image_key", name="uq_proposals_round_id"),
    )
    op.create_index("ix_proposals_round_id", "proposals", ["round_id"])
    op.create_index("ix_proposals_image_key", "proposals", ["image_key"])
    op.create_table(
        "audit_flags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_key", sa.Integer, sa.ForeignKey("images.key"), nullable=False),
        sa.Column("annotation_id", sa.Integer, sa.ForeignKey("annotations.id")),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("suggested_label", sa.Integer),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("outcome", sa.String(16)),
        sa.Column("reviewed_by", sa.String(128)),
        sa.Column("reviewed_at", TZ),
        sa.Column("new_annotation_id", sa.Integer, sa.ForeignKey("annotations.id")),
    )
    op.create_index("ix_audit_flags_image_key", "audit_flags", ["image_key"])


def downgrade() -> None:
    for table in ("audit_flags", "proposals", "proposal_rounds", "model_versions", "skips", "annotations"):
        op.drop_table(table)
    op.drop_table("images")
