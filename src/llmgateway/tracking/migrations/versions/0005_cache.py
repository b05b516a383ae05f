"""What the response cache did for each request, and the cost a hit saved.

`cache` is hit, miss or bypass (null where the gateway caches nothing or the request may not
be cached); `cost_saved_usd` is what a hit would have cost.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("cache", sa.String(8)))
        batch.add_column(sa.Column("cost_saved_usd", sa.Double))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("cost_saved_usd")
        batch.drop_column("cache")
