"""ledger and outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 06:52:21.700187
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issuances",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seller_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.String(length=16), nullable=False),
        sa.Column("refund_id", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document_kind", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("park_reason", sa.String(length=32), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("source_topic", sa.String(length=300), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.Integer(), nullable=False),
        sa.Column("source_event_id", sa.String(length=200), nullable=False),
        sa.Column("source_key", sa.LargeBinary(), nullable=True),
        sa.Column("source_headers", sa.JSON(), nullable=False),
        sa.Column("event_value", sa.LargeBinary(), nullable=False),
        sa.Column("result_event", sa.Text(), nullable=True),
        sa.Column("provider_document_id", sa.String(length=100), nullable=True),
        sa.Column("failure_code", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "seller_id", "channel", "order_id", "slot", "refund_id", name="uq_issuance_key"
        ),
    )
    with op.batch_alter_table("issuances", schema=None) as batch_op:
        batch_op.create_index("ix_issuance_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(
            "ix_issuance_order", ["seller_id", "channel", "order_id"], unique=False
        )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=True),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_published_at"), ["published_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_published_at"))

    op.drop_table("outbox")
    with op.batch_alter_table("issuances", schema=None) as batch_op:
        batch_op.drop_index("ix_issuance_order")
        batch_op.drop_index("ix_issuance_due")

    op.drop_table("issuances")
