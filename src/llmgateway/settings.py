"""Every setting of the gateway, read from the environment and a `.env` file.

The gateway's own variables carry the `LLMGATEWAY_` prefix. Vendor keys and endpoints keep
the vendors' own variable names (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, ...), so an
environment that already works with a vendor's SDK works with the gateway unchanged.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LLMGATEWAY_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # -- server ---------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    access_log: bool = True  # one JSON line per request on stderr (uvicorn's own is then off)
    access_log_contents: bool = False  # add chat_input and chat_output to those lines
    otel_enabled: bool = False  # OpenTelemetry traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_* settings)

    # -- access ---------------------------------------------------------------------------
    master_key: SecretStr | None = None
    allow_client_keys: bool = True
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)  # comma-separated

    # -- limits of what a request may hold ---------------------------------------------------
    max_body_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_messages: int = Field(default=1000, ge=1)
    max_message_chars: int = Field(default=1_000_000, ge=1)
    max_tools: int = Field(default=128, ge=0)
    max_json_depth: int = Field(default=32, ge=2)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    body_timeout_s: float = Field(default=30.0, gt=0)  # the whole body must arrive within this

    # -- deadlines, retries, fallbacks --------------------------------------------------------
    connect_timeout_s: float = Field(default=10.0, gt=0)
    first_token_timeout_s: float | None = Field(default=None, gt=0)
    request_timeout_s: float = Field(default=600.0, gt=0)
    default_retries: int = Field(default=0, ge=0, le=10)
    max_attempts: int = Field(default=10, ge=1)  # upstream calls per client request, retries and fallbacks together
    retry_backoff_base_s: float = Field(default=0.5, ge=0)
    retry_backoff_max_s: float = Field(default=8.0, ge=0)
    cooldown_failures: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=30.0, ge=0)

    # -- response cache ---------------------------------------------------------------------
    cache: Literal["off", "memory", "redis"] = "off"  # redis: shared by every instance (LLMGATEWAY_REDIS_URL)
    cache_ttl_s: float = Field(default=3600.0, gt=0)
    cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)  # the in-process cache's bound
    cache_any_temperature: bool = False  # cache answers sampled at a temperature other than 0

    # -- shared state (several instances) -------------------------------------------------
    redis_url: SecretStr | None = Field(
        default=None, description="Redis for state every instance shares (cooldowns); unset: each process keeps its own."
    )
    redis_prefix: str = "llmgateway"  # of every key and channel, so gateways can share one Redis apart
    redis_timeout_s: float = Field(default=0.25, gt=0)  # per Redis call; past it the process goes on alone
    limits_without_redis: Literal["local", "refuse"] = "local"  # rate limits while Redis is down

    # -- catalog --------------------------------------------------------------------------
    catalog: Path | None = Field(
        default=None, description="A YAML file whose providers and models extend or override the built-in catalog."
    )

    # -- tracking -------------------------------------------------------------------------
    tracking_enabled: bool = True
    database_url: str = "sqlite+aiosqlite:///llmgateway.db"
    tracking_queue_size: int = Field(default=10_000, ge=1)
    tracking_batch_size: int = Field(default=200, ge=1)
    tracking_flush_interval_s: float = Field(default=0.5, gt=0)
    tracking_spill_path: Path = Path("llmgateway.spill.jsonl")
    tracking_dead_letter_path: Path = Path("llmgateway.deadletter.jsonl")
    tracking_journal_dir: Path | None = Field(
        default=Path("llmgateway.journal"), description="Where finished records are journaled before their answer ends."
    )
    tracking_buffer_records: int = Field(default=10_000, ge=1)  # in memory while no database and no disk
    session_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    drain_s: float = Field(default=0.0, ge=0, le=300)  # after SIGTERM, seconds of 503 readiness while still serving

    @model_validator(mode="after")
    def _redis_for_a_shared_cache(self) -> Settings:
        if self.cache == "redis" and self.redis_url is None:
            raise ValueError("LLMGATEWAY_CACHE=redis needs LLMGATEWAY_REDIS_URL")
        return self

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    def vendor_value(self, name: str) -> str | None:
        """A vendor variable (`OPENAI_BASE_URL`, ...) from the environment, else from `.env`.

        Vendor variables are named by the catalog (each provider says which variables hold
        its key and endpoint), so they are looked up by name rather than declared here.
        """
        value = os.environ.get(name)
        if value is None:
            value = _dotenv_values().get(name)
        return value or None

    def vendor_variable_names(self) -> set[str]:
        """The names of every variable set, in the environment or in `.env`."""
        return set(os.environ) | set(_dotenv_values())

    def vendor_secret(self, name: str) -> SecretStr | None:
        """A vendor key, wrapped so that it never prints."""
        value = self.vendor_value(name)
        return SecretStr(value) if value else None


@lru_cache(maxsize=1)
def _dotenv_values() -> dict[str, str | None]:
    return dotenv_values(".env") if Path(".env").is_file() else {}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings, so the next read sees the current environment."""
    get_settings.cache_clear()
    _dotenv_values.cache_clear()
