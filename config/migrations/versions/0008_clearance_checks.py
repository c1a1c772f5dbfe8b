"""KSeF clearance tracking (ADR 0004)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 04:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clearance_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("issuance_id", sa.Integer(), nullable=False),
        sa.Column("seller_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=False),
        sa.Column("refund_id", sa.String(length=200), nullable=True),
        sa.Column("source_event_id", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("document_kind", sa.String(length=16), nullable=False),
        sa.Column("provider_document_id", sa.String(length=100), nullable=False),
        sa.Column("document_number", sa.String(length=100), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("provider_status", sa.String(length=64), nullable=True),
        sa.Column("ksef_number", sa.String(length=100), nullable=True),
        sa.Column("verification_link", sa.String(length=1000), nullable=True),
        sa.Column("offline_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("announced", sa.JSON(), nullable=False),
        sa.Column("email_on_clearance", sa.Boolean(), nullable=False),
        sa.Column("emailed", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("resends", sa.Integer(), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["issuance_id"], ["issuances.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("issuance_id"),
    )
    with op.batch_alter_table("clearance_checks", schema=None) as batch_op:
        batch_op.create_index("ix_clearance_due", ["next_check_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("clearance_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_clearance_due")
    op.drop_table("clearance_checks")
