"""The request log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double, nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model_requested", sa.String(256), nullable=False),
        sa.Column("model_reported", sa.String(256)),
        sa.Column("session_id", sa.String(256)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_type", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("http_status", sa.Integer),
        sa.Column("chat_input", sa.Text),
        sa.Column("chat_output", sa.Text),
        sa.Column("context", Json),
        sa.Column("tool_calls", Json),
        sa.Column("parameters", Json),
        sa.Column("finish_reason", sa.String(32)),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("cached_tokens", sa.Integer),
        sa.Column("reasoning_tokens", sa.Integer),
        sa.Column("tokens_estimated", sa.Boolean),
        sa.Column("cost_usd", sa.Double),
        sa.Column("latency_s", sa.Double),
        sa.Column("time_to_first_token_s", sa.Double),
        sa.Column("inter_token_latency_s", sa.Double),
        sa.Column("tokens_per_second", sa.Double),
        sa.Column("attempts", Json),
        sa.Column("client_address", sa.String(64)),
        sa.Column("key_fingerprint", sa.String(32)),
    )
    op.create_index("ix_requests_created_at", "requests", ["created_at"])
    op.create_index("ix_requests_session", "requests", ["session_id", "created_at"])
    op.create_index("ix_requests_provider_model", "requests", ["provider", "model_requested"])


def downgrade() -> None:
    op.drop_table("requests")
