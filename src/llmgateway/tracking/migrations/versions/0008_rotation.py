"""Key rotation: a rotated key's previous value stays valid until the end of its grace period.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("virtual_keys") as batch:
        batch.add_column(sa.Column("previous_key_hash", sa.String(64)))
        batch.add_column(sa.Column("previous_valid_until", sa.Double))
    op.create_index("ix_virtual_keys_previous_hash", "virtual_keys", ["previous_key_hash"])


def downgrade() -> None:
    op.drop_index("ix_virtual_keys_previous_hash", "virtual_keys")
    with op.batch_alter_table("virtual_keys") as batch:
        batch.drop_column("previous_valid_until")
        batch.drop_column("previous_key_hash")
