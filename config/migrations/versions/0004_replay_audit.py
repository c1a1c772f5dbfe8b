"""replay audit

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 09:12:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replay_audits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("records", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("replay_audits", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_replay_audits_started_at"), ["started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("replay_audits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replay_audits_started_at"))

    op.drop_table("replay_audits")
