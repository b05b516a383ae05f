"""Records flag the values converted or cut to be storable.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("sanitized", sa.Boolean))


def downgrade() -> None:
    op.drop_column("requests", "sanitized")
