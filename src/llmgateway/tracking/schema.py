"""The tables of the request log (SQLAlchemy Core; the migrations create them)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Double, Index, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

Json = JSON().with_variant(JSONB(), "postgresql")

requests = Table(
    "requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", Double, nullable=False),  # unix seconds, when the request arrived
    Column("finished_at", Double, nullable=False),
    Column("surface", String(16), nullable=False),  # engine, openai, client (in-process)
    Column("provider", String(64), nullable=False),
    Column("model_requested", String(256), nullable=False),
    Column("model_reported", String(256)),
    Column("session_id", String(256)),
    Column("status", String(16), nullable=False),  # success, error, cancelled
    Column("error_type", String(64)),
    Column("error_message", Text),
    Column("http_status", Integer),
    Column("chat_input", Text),
    Column("chat_output", Text),
    Column("context", Json),
    Column("tool_calls", Json),
    Column("parameters", Json),
    Column("finish_reason", String(32)),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("cached_tokens", Integer),
    Column("reasoning_tokens", Integer),
    Column("tokens_estimated", Boolean),
    Column("cost_usd", Double),
    Column("latency_s", Double),
    Column("time_to_first_token_s", Double),
    Column("inter_token_latency_s", Double),
    Column("tokens_per_second", Double),
    Column("attempts", Json),
    Column("client_address", String(64)),
    Column("key_fingerprint", String(32)),
    Column("sanitized", Boolean),  # a value was converted or cut to be stored (see storable.py)
    Column("metrics", Json),  # the answer's `metrics` object, as the client saw it
    Column("cache", String(8)),  # hit, miss or bypass; null when the request was not cacheable
    Column("cost_saved_usd", Double),  # what a cache hit would have cost
    Column("virtual_key_id", String(36)),  # the virtual key the request came with, and its team
    Column("team_id", String(36)),
    # log_id: an integer per row for the reference tracker's `LogDefault.log_id`; SQLite's
    # rowid, a generated identity column on PostgreSQL (see migration 0003). Not inserted.
    Index("ix_requests_created_at", "created_at"),
    Index("ix_requests_session", "session_id", "created_at"),
    Index("ix_requests_provider_model", "provider", "model_requested"),
    Index("ix_requests_virtual_key", "virtual_key_id", "created_at"),
    Index("ix_requests_team", "team_id", "created_at"),
)

# Each session's conversation so far (the gateway's own sessions): read by every process
# before a session's turn, written when the turn has succeeded. `version` counts the writes,
# so a process can tell whether the copy it holds is still the latest.
conversations = Table(
    "conversations",
    metadata,
    Column("session_id", String(256), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("messages", Json, nullable=False),
    Column("updated_at", Double, nullable=False),
)

# Governance: teams and their virtual keys (a key is stored as a keyed hash, never in clear).
teams = Table(
    "teams",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("rpm", Integer),
    Column("tpm", Integer),
    Column("max_parallel", Integer),
    Column("budget_usd", Double),
    Column("budget_period", String(8)),  # day, week, month or total
    Column("metadata", Json),
    Column("created_at", Double, nullable=False),
)

virtual_keys = Table(
    "virtual_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("owner", String(128)),
    Column("team_id", String(36)),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("hint", String(16), nullable=False),
    Column("previous_key_hash", String(64)),  # a rotated key's old value, valid until:
    Column("previous_valid_until", Double),
    Column("allowed_models", Json),
    Column("rpm", Integer),
    Column("tpm", Integer),
    Column("max_parallel", Integer),
    Column("retries", Integer),  # the key's requests' retries and timeout: the default and the most
    Column("timeout_s", Double),
    Column("budget_usd", Double),
    Column("budget_period", String(8)),
    Column("expires_at", Double),
    Column("revoked_at", Double),
    Column("metadata", Json),
    Column("created_at", Double, nullable=False),
)

# LLMstudio's tracker tables, served on its paths (api/tracking.py).
sessions = Table(
    "sessions",
    metadata,
    Column("message_id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(256), nullable=False, index=True),
    Column("chat_history", Json),
    Column("extras", Json),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

prompts = Table(
    "prompts",
    metadata,
    Column("prompt_id", String(36), primary_key=True),
    Column("config", Json),
    Column("prompt", Text),
    Column("is_active", Boolean, nullable=False, default=False),
    Column("name", String(256), nullable=False),
    Column("model", String(256), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("label", String(64)),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    UniqueConstraint("name", "provider", "model", "version", name="uq_prompt_version"),
)
