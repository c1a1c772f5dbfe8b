"""single-use OAuth states

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 12:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oauth_state_uses",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column(
            "used_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("oauth_state_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_state_uses_used_at"), ["used_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("oauth_state_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_state_uses_used_at"))
    op.drop_table("oauth_state_uses")
