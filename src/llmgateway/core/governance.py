"""Virtual keys: who a request is, what it may call, and how often.

With `LLMGATEWAY_MASTER_KEY` set, clients present a virtual key (`lgw-` and 43 random
characters), made by the admin API or the CLI and shown once. The database holds only its
keyed hash (HMAC-SHA256 under the master key), so a copy of the database gives no key; changing
the master key invalidates every virtual key. Each request reads the key's row, so a revoked or
expired key is refused on every instance from the moment it is revoked.

Limits: requests and tokens a minute and concurrent requests, per key and per team
(`rate_limits.py`), and budgets in USD per period (`budgets.py`), exact across instances on
Redis. A key's `retries` and `timeout_s` are its requests' defaults, and the most they may
ask. A key may be restricted to models: `provider/model`, `provider/*` or a route's name.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from typing import Awaitable, Callable, TypeVar

from pydantic import SecretStr

from llmgateway.core.budgets import (
    BudgetExceededError,
    Hold,
    InProcessLedger,
    Ledger,
    accounts_of,
    worst_case_cost,
    worst_case_tokens,
)
from llmgateway.core.rate_limits import InProcessRateLimiter, LimitsHold, RateLimiter
from llmgateway.errors import GatewayError
from llmgateway.settings import Settings
from llmgateway.tracking.keys import KeyStore
from llmgateway.tracking.tracker import Tracker
from llmgateway.vocabulary.admission import Account, Admission, Slot, Window
from llmgateway.vocabulary.requests import ChatRequest, KeyPrincipal

logger = logging.getLogger("llmgateway.governance")

KEY_PREFIX = "lgw-"
T = TypeVar("T")
LIMITS_TIMEOUT_S = 5.0


class InvalidKeyError(GatewayError):
    status_code = 401
    error_type = "invalid_api_key"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class ModelNotAllowedError(GatewayError):
    status_code = 403
    error_type = "model_not_allowed"


class KeyRateLimitedError(GatewayError):
    status_code = 429
    error_type = "rate_limited"


class LimitsUnavailableError(GatewayError):
    status_code = 503
    error_type = "limits_unavailable"


class Governance:
    def __init__(
        self,
        master_key: SecretStr,
        keys: KeyStore,
        limiter: RateLimiter | None = None,
        ledger: Ledger | None = None,
        *,
        limits_without_shared_state: str = "local",
        timeout_s: float = 0.25,
    ) -> None:
        self._secret = master_key.get_secret_value().encode()
        self.keys = keys
        self._local = InProcessRateLimiter()
        self._limiter = limiter or self._local
        self._shared = limiter is not None
        self._without_shared = limits_without_shared_state
        self._timeout_s = timeout_s
        self._local_ledger = InProcessLedger()
        self._ledger: Ledger = ledger or self._local_ledger

    def key_hash(self, key: str) -> str:
        return hmac.new(self._secret, key.encode(), hashlib.sha256).hexdigest()

    def new_key(self) -> tuple[str, str, str]:
        """(the key in clear, shown once; its keyed hash, stored; its hint, shown in lists)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        return key, self.key_hash(key), key[:8]

    async def authenticate(self, token: str) -> KeyPrincipal:
        if not token.startswith(KEY_PREFIX) or len(token) > 128:
            raise InvalidKeyError("not a key of this gateway: send Authorization: Bearer lgw-...")
        row = await self.keys.by_hash(self.key_hash(token))
        if row is None:
            raise InvalidKeyError("unknown key")
        if row["revoked_at"] is not None:
            raise InvalidKeyError(f"key {row['hint']}... was revoked")
        if row["expires_at"] is not None and row["expires_at"] <= time.time():
            raise InvalidKeyError(f"key {row['hint']}... has expired")
        models = row["allowed_models"]
        return KeyPrincipal(row["id"], row["name"], row["team_id"], tuple(models) if models is not None else None,
                            row["rpm"], row["team_rpm"], row["budget_usd"], row["budget_period"], row["team_budget_usd"],
                            row["team_budget_period"], row["tpm"], row["team_tpm"], row["max_parallel"],
                            row["team_max_parallel"], row["retries"], row["timeout_s"])  # fmt: skip

    @staticmethod
    def check_model(key: KeyPrincipal | None, requested: str) -> None:
        """A key restricted to models may call those only: `requested` is provider/model or a
        route's name, checked before anything else about the request."""
        if key is None or key.allowed_models is None:
            return
        if not any(fnmatch.fnmatchcase(requested, pattern) for pattern in key.allowed_models):
            raise ModelNotAllowedError(f"key {key.name!r} may not use {requested!r}; it may use: {', '.join(key.allowed_models)}")

    async def hold(
        self, key: KeyPrincipal, targets: list[ChatRequest], lease_s: float
    ) -> tuple[LimitsHold | None, Hold | None]:
        """Admit the request under its key's and team's limits, then reserve its worst case
        against their budgets; a request a budget refuses gives back what the limits counted.
        Each target's worst case is counted once, for both."""
        worst = _WorstCases(targets)
        limits = await self._admit(key, worst, lease_s)
        try:
            return limits, await self._reserve(key, worst)
        except GatewayError:
            if limits is not None:
                await self.release(limits, 0)
            raise

    async def _admit(self, key: KeyPrincipal, worst: _WorstCases, lease_s: float) -> LimitsHold | None:
        """Count the request against its key's and team's requests and tokens a minute, and hold
        a slot of their concurrent requests; or a 429 with Retry-After and the rate headers
        OpenAI clients read. The tokens counted are the worst case (over its targets), settled
        to the vendor's count by `release` when the call ends."""
        windows = [Window(f"rpm:{scope}:{owner}", limit, 1) for scope, owner, limit in _limits(key, key.rpm, key.team_rpm)]
        if key.tpm or key.team_tpm:
            tokens = max(sum(counts) for counts in worst.tokens())
            windows += [Window(f"tpm:{scope}:{owner}", limit, tokens) for scope, owner, limit in _limits(key, key.tpm, key.team_tpm)]
        slots = [Slot(f"par:{scope}:{owner}", limit) for scope, owner, limit in _limits(key, key.max_parallel, key.team_max_parallel)]
        if not windows and not slots:
            return None
        member = uuid.uuid4().hex
        admission, limiter = await self._admission(member, windows, slots, lease_s)
        if not admission.admitted:
            raise _refusal(key, windows, slots, admission)
        return LimitsHold(member, [w.name for w in windows if w.name.startswith("tpm:")], [s.name for s in slots], limiter,
                          _rate_headers(windows, admission.remaining))  # fmt: skip

    async def release(self, hold: LimitsHold, tokens: int) -> None:
        """Settle the request's tokens to what the vendor counted, free its slots; once."""
        if hold.released:
            return
        hold.released = True
        # failing, its slots' leases run out, and its tokens stay at the worst case
        await self._write_back(hold.limiter.release(hold.member, hold.token_windows, tokens, hold.slots),
                               "limits: a call's tokens and slots were not released")  # fmt: skip

    async def _admission(
        self, member: str, windows: list[Window], slots: list[Slot], lease_s: float
    ) -> tuple[Admission, RateLimiter]:
        async def admit_in(limiter: RateLimiter) -> tuple[Admission, RateLimiter]:
            return await limiter.admit(member, windows, slots, lease_s), limiter

        if not self._shared:
            return await admit_in(self._local)
        return await self._shared_or_local("rate limits", lambda: admit_in(self._limiter), lambda: admit_in(self._local))

    async def _shared_or_local(self, what: str, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]) -> T:
        """`shared` (on Redis) within its bound; when Redis does not answer, what the operator
        chose: this instance alone (`local`), or a 503. The bound is longer than other Redis
        calls': a late answer may already have counted the request, so only a Redis that does
        not answer for this long is taken as down."""
        try:
            async with asyncio.timeout(max(self._timeout_s, LIMITS_TIMEOUT_S)):
                return await shared()
        except GatewayError:
            raise
        except Exception as exc:
            if self._without_shared == "refuse":
                raise LimitsUnavailableError(f"the {what}' shared store is not answering; try again shortly") from None
            logger.warning("%s: Redis did not answer (%s); this instance counts alone", what, type(exc).__name__)
            return await local()

    async def _write_back(self, write: Awaitable[None], failure: str) -> None:
        """What a call's end writes to where limits and budgets are kept, bounded as their
        reads are; a failure is logged, not raised: the call has ended."""
        try:
            async with asyncio.timeout(max(self._timeout_s, LIMITS_TIMEOUT_S)):
                await write
        except Exception as exc:
            logger.warning("%s in Redis (%s)", failure, type(exc).__name__)

    async def _reserve(self, key: KeyPrincipal, worst: _WorstCases) -> Hold | None:
        """Hold the request's worst case (over its targets, fallbacks included) against the
        key's and the team's budgets, or refuse it with a 429 `budget_exceeded`."""
        accounts = accounts_of(key, time.time())
        if not accounts:
            return None
        amount = max(worst_case_cost(target, tokens) for target, tokens in zip(worst.targets, worst.tokens()))

        async def reserve_in(ledger: Ledger) -> tuple[Account | None, Ledger]:
            return await ledger.reserve(accounts, amount, self._spent_so_far), ledger

        if self._ledger is self._local_ledger:
            try:  # a ledger opens from the request log: a database that does not answer is a 503
                refused, ledger = await reserve_in(self._local_ledger)
            except GatewayError:
                raise
            except Exception:
                raise LimitsUnavailableError("the budgets' ledger could not be opened; try again shortly") from None
        else:
            refused, ledger = await self._shared_or_local(
                "budgets", lambda: reserve_in(self._ledger), lambda: reserve_in(self._local_ledger)
            )
        if refused is not None:
            headers = {"Retry-After": str(int(refused.period_end - time.time()) + 1)} if refused.period_end else None
            raise BudgetExceededError(
                f"the {refused.scope}'s budget of ${refused.budget_usd:g} has no room for this request "
                f"(its worst case is ${amount:.6g}: its prompt, and max_tokens of output)",
                headers=headers,
            )
        return Hold(accounts, amount, ledger)

    async def settle(self, hold: Hold, cost: float | None) -> None:
        """Replace the hold by what the call cost; once, however the call ended."""
        if hold.settled:
            return
        hold.settled = True
        await self._write_back(hold.ledger.settle(hold.accounts, hold.amount, cost or 0.0),
                               "budgets: a call's cost was not settled")  # fmt: skip

    async def _spent_so_far(self, account: Account) -> float:
        return await self.keys.spend(account.scope, account.owner_id, account.period_start)


class _WorstCases:
    """The worst case of each of a request's targets (prompt and output tokens), counted once
    however many limits and budgets read it, and only if one does."""

    def __init__(self, targets: list[ChatRequest]) -> None:
        self.targets = targets
        self._tokens: list[tuple[int, int]] | None = None

    def tokens(self) -> list[tuple[int, int]]:
        if self._tokens is None:
            self._tokens = [worst_case_tokens(target) for target in self.targets]
        return self._tokens


def _limits(key: KeyPrincipal, own: int | None, team: int | None) -> list[tuple[str, str, int]]:
    """(scope, owner, limit) of one kind of limit: the key's, then its team's."""
    limits = [("key", key.id, own)] if own else []
    if team and key.team_id:
        limits.append(("team", key.team_id, team))
    return limits


_KINDS = {"rpm": ("requests", "requests per minute"), "tpm": ("tokens", "tokens per minute"),
          "par": ("requests", "concurrent requests")}  # fmt: skip


def _rate_headers(windows: list[Window], remaining: tuple[int, ...]) -> dict[str, str]:
    """`x-ratelimit-limit-requests`/`-remaining-requests` and `-tokens`: the key's limit (else its
    team's), and the least room left in any window of the kind."""
    headers = {}
    for kind, suffix in (("rpm", "requests"), ("tpm", "tokens")):
        mine = [(w, left) for w, left in zip(windows, remaining) if w.name.startswith(kind)]
        if mine:
            headers[f"x-ratelimit-limit-{suffix}"] = str(mine[0][0].limit)
            headers[f"x-ratelimit-remaining-{suffix}"] = str(max(0, min(left for _, left in mine)))
    return headers


def _refusal(key: KeyPrincipal, windows: list[Window], slots: list[Slot], admission: Admission) -> KeyRateLimitedError:
    name = admission.refused_by or ""
    kind, scope = name.split(":")[:2]
    suffix, what = _KINDS[kind]
    limit = next(limit.limit for limit in (*windows, *slots) if limit.name == name)
    retry_after = max(1, int(admission.retry_after_s + 0.999))
    headers = {"Retry-After": str(retry_after), f"x-ratelimit-limit-{suffix}": str(limit),
               f"x-ratelimit-remaining-{suffix}": "0", f"x-ratelimit-reset-{suffix}": f"{admission.retry_after_s:.3f}s"}  # fmt: skip
    whose = f"key {key.name!r}" if scope == "key" else f"the team of key {key.name!r}"
    hint = " (a request counts its prompt and max_tokens until it ends: set max_tokens)" if kind == "tpm" else ""
    return KeyRateLimitedError(f"{whose} is over its {what} ({limit}); retry in {retry_after} s{hint}", headers=headers)


def governance_of(
    settings: Settings, tracker: Tracker, shared_limiter: RateLimiter | None, shared_ledger: Ledger | None
) -> Governance | None:
    """Virtual keys when the gateway has a master key and a database to keep them in."""
    if settings.master_key is None or tracker.keys is None:
        return None
    return Governance(settings.master_key, tracker.keys, shared_limiter, shared_ledger,
                      limits_without_shared_state=settings.limits_without_redis, timeout_s=settings.redis_timeout_s)  # fmt: skip
