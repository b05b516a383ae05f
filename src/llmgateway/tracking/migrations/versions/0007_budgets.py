"""Budgets in USD per period for keys and teams.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("teams", "virtual_keys"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("budget_usd", sa.Double))
            batch.add_column(sa.Column("budget_period", sa.String(8)))  # day, week, month or total
    op.create_index("ix_requests_virtual_key", "requests", ["virtual_key_id", "created_at"])
    op.create_index("ix_requests_team", "requests", ["team_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_team", "requests")
    op.drop_index("ix_requests_virtual_key", "requests")
    for table in ("teams", "virtual_keys"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("budget_period")
            batch.drop_column("budget_usd")
