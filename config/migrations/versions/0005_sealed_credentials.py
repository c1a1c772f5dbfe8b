"""seal provider credentials at rest

Existing plain credentials are encrypted with the first key of INVOICE_ROUTER_SECRET_KEYS; the
upgrade refuses to run without a key when there is anything to encrypt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 10:00:00.000000
"""

import json
import os

import sqlalchemy as sa
from alembic import op

from config.secrets import SecretBox

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_connections = sa.table(
    "provider_connections",
    sa.column("id", sa.Integer()),
    sa.column("credentials", sa.JSON()),
    sa.column("sealed_credentials", sa.Text()),
)


def _box() -> SecretBox:
    keys = [k.strip() for k in os.environ.get("INVOICE_ROUTER_SECRET_KEYS", "").split(",")]
    return SecretBox([k for k in keys if k])


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_connections.c.id, _connections.c.credentials)).all()
    plain = [(row.id, row.credentials) for row in rows if row.credentials]
    box = _box() if plain else None  # before any change: SQLite DDL is not transactional
    with op.batch_alter_table("provider_connections") as batch_op:
        batch_op.add_column(
            sa.Column("sealed_credentials", sa.Text(), nullable=False, server_default="")
        )
    if box is not None:
        for row_id, credentials in plain:
            sealed = box.encrypt(json.dumps(credentials, sort_keys=True))
            bind.execute(
                _connections.update()
                .where(_connections.c.id == row_id)
                .values(sealed_credentials=sealed)
            )
    with op.batch_alter_table("provider_connections") as batch_op:
        batch_op.drop_column("credentials")


def downgrade() -> None:
    with op.batch_alter_table("provider_connections") as batch_op:
        batch_op.add_column(
            sa.Column("credentials", sa.JSON(), nullable=False, server_default="{}")
        )
    bind = op.get_bind()
    rows = bind.execute(sa.select(_connections.c.id, _connections.c.sealed_credentials)).all()
    if any(row.sealed_credentials for row in rows):
        box = _box()
        for row in rows:
            if row.sealed_credentials:
                plain = json.loads(box.decrypt(row.sealed_credentials))
                bind.execute(
                    _connections.update()
                    .where(_connections.c.id == row.id)
                    .values(credentials=plain)
                )
    with op.batch_alter_table("provider_connections") as batch_op:
        batch_op.drop_column("sealed_credentials")
