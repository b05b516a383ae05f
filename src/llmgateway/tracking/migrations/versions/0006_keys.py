"""Virtual keys and teams; each request records the key and team it came with.

A key is stored as a keyed hash (HMAC-SHA256 under the master key), never in clear; `hint`
is its first characters, to tell keys apart in lists.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("rpm", sa.Integer),
        sa.Column("metadata", Json),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "virtual_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(128)),
        sa.Column("team_id", sa.String(36), sa.ForeignKey("teams.id")),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("allowed_models", Json),
        sa.Column("rpm", sa.Integer),
        sa.Column("expires_at", sa.Double),
        sa.Column("revoked_at", sa.Double),
        sa.Column("metadata", Json),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("virtual_key_id", sa.String(36)))
        batch.add_column(sa.Column("team_id", sa.String(36)))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("team_id")
        batch.drop_column("virtual_key_id")
    op.drop_table("virtual_keys")
    op.drop_table("teams")
