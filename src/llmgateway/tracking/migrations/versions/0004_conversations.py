"""Each session's conversation so far, in one row, so that every process and instance reads
the same turns (the gateway's sessions, `session_id` in a chat request).

Filled from the request log: a session's last successful turn, its context and answer.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    conversations = op.create_table(
        "conversations",
        sa.Column("session_id", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("messages", Json, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
    )
    requests = sa.table(
        "requests",
        sa.column("session_id", sa.String),
        sa.column("status", sa.String),
        sa.column("created_at", sa.Double),
        sa.column("context", Json),
        sa.column("chat_output", sa.Text),
        sa.column("tool_calls", Json),
    )
    last: dict[str, dict] = {}
    rows = op.get_bind().execute(
        sa.select(requests)
        .where(requests.c.session_id.is_not(None), requests.c.status == "success")
        .order_by(requests.c.created_at)
    )
    for row in rows:
        answer = {"role": "assistant", "content": row.chat_output or ""}
        if row.tool_calls:
            answer["tool_calls"] = row.tool_calls
        last[row.session_id] = {
            "session_id": row.session_id,
            "version": 1,
            "messages": [*(row.context or []), answer],
            "updated_at": row.created_at,
        }
    if last:
        op.bulk_insert(conversations, list(last.values()))


def downgrade() -> None:
    op.drop_table("conversations")
