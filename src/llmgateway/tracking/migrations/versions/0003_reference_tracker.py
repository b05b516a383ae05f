"""The reference tracker's shapes: the answer's metrics object and an integer log id per
record; LLMstudio's sessions and prompts tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("requests", sa.Column("metrics", Json))
    if op.get_bind().dialect.name == "postgresql":  # SQLite numbers its rows already (rowid)
        op.add_column("requests", sa.Column("log_id", sa.BigInteger, sa.Identity(always=False), nullable=False))
        op.create_index("ix_requests_log_id", "requests", ["log_id"], unique=True)
    op.create_table(
        "sessions",
        sa.Column("message_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(256), nullable=False),
        sa.Column("chat_history", Json),
        sa.Column("extras", Json),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    op.create_index("ix_sessions_session_id", "sessions", ["session_id"])
    op.create_table(
        "prompts",
        sa.Column("prompt_id", sa.String(36), primary_key=True),
        sa.Column("config", Json),
        sa.Column("prompt", sa.Text),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("label", sa.String(64)),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.UniqueConstraint("name", "provider", "model", "version", name="uq_prompt_version"),
    )


def downgrade() -> None:
    op.drop_table("prompts")
    op.drop_index("ix_sessions_session_id", "sessions")
    op.drop_table("sessions")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_requests_log_id", "requests")
        op.drop_column("requests", "log_id")
    op.drop_column("requests", "metrics")
