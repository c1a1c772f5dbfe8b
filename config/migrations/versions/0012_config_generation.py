"""A configuration generation, bumped by the database on every configuration change

Workers cache routes and connections and ask for this one number at most every few seconds
instead of re-reading each route and connection (docs/performance.md). Triggers bump it, so no
writer (API, CLI, `config apply`, a manual UPDATE) can forget to.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 06:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("sellers", "provider_connections", "channel_mappings")
EVENTS = ("INSERT", "UPDATE", "DELETE")
BUMP = "UPDATE config_generation SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "config_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO config_generation (id, value) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_config_generation() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_bump_config_generation AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation()"
            )
        return
    for table in TABLES:  # SQLite: one trigger per event, per row
        for event in EVENTS:
            op.execute(
                f"CREATE TRIGGER {table}_{event.lower()}_bump_config_generation AFTER {event} "
                f"ON {table} BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_bump_config_generation ON {table}")
        op.execute("DROP FUNCTION bump_config_generation()")
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER {table}_{event.lower()}_bump_config_generation")
    op.drop_table("config_generation")
