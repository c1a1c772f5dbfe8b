"""The seller's tax profile and per-channel VAT defaults (issue 13)

`sellers.tax_profile`: VAT-UE / OSS registration and the VIES policy (domain.vat.TaxProfile).
`channel_mappings.vat_defaults`: a channel's defaults (margin scheme, Annex 15 goods), merged
over the seller's profile. Both JSON, empty meaning "all defaults" (domestic VAT as before).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 06:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "sellers", sa.Column("tax_profile", sa.JSON(), nullable=False, server_default="{}")
    )
    op.add_column(
        "channel_mappings",
        sa.Column("vat_defaults", sa.JSON(), nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    op.drop_column("channel_mappings", "vat_defaults")
    op.drop_column("sellers", "tax_profile")
