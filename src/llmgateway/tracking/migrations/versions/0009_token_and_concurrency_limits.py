"""Tokens a minute and concurrent requests for keys and teams; a key's retries and timeout.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("virtual_keys", "teams"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("tpm", sa.Integer))
            batch.add_column(sa.Column("max_parallel", sa.Integer))
    with op.batch_alter_table("virtual_keys") as batch:
        batch.add_column(sa.Column("retries", sa.Integer))
        batch.add_column(sa.Column("timeout_s", sa.Double))


def downgrade() -> None:
    with op.batch_alter_table("virtual_keys") as batch:
        batch.drop_column("timeout_s")
        batch.drop_column("retries")
    for table in ("teams", "virtual_keys"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("max_parallel")
            batch.drop_column("tpm")
