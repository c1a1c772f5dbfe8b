"""VIES answers cached per VAT id per Polish day (issue 13)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 06:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vies_checks",
        sa.Column("vat_id", sa.String(length=32), nullable=False),
        sa.Column("check_day", sa.Date(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("vat_id", "check_day"),
    )


def downgrade() -> None:
    op.drop_table("vies_checks")
