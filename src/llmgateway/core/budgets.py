"""Budgets in USD per period, for keys and teams, that concurrency cannot overrun.

Before a call, its worst case is reserved against every budget it counts in (its key's, its
team's): the prompt's tokens as the catalog's tokenizer counts them at the highest input price
(cache writes included), plus `max_tokens` (else the model's context window) at the output
price. A request whose reservation does not fit in every budget (spent + reserved + this ≤
budget) is refused before any vendor call. When the call ends, the reservation is replaced by
what it really cost (a failure usually nothing, a cancelled stream what it streamed). So the
spend of a period never passes its budget, whatever the concurrency.

Spend is kept in a ledger per budget and period: in the process, or in Redis for every
instance (shared/redis_budgets.py). A ledger starts from the request log (what the key or team
spent since the period began), so a restart or a Redis flush does not reset a budget.
Periods start at 00:00 UTC: a day, a week (Monday), a month, or `total` (never resets).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

from llmgateway.errors import GatewayError
from llmgateway.metrics.tokens import count_message_tokens
from llmgateway.vocabulary.admission import Account
from llmgateway.vocabulary.requests import ChatRequest, KeyPrincipal

PERIODS = ("day", "week", "month", "total")


class BudgetExceededError(GatewayError):
    status_code = 429
    error_type = "budget_exceeded"


class UnpricedModelError(GatewayError):
    status_code = 400
    error_type = "model_has_no_price"


@dataclass(slots=True)
class Hold:
    """A reservation, to be settled once (in the ledger that holds it) with what the call cost."""

    accounts: list[Account]
    amount: float
    ledger: Ledger
    settled: bool = field(default=False)


class Ledger(Protocol):
    async def reserve(self, accounts: list[Account], amount: float, spent_so_far: Callable[[Account], Awaitable[float]]) -> Account | None:
        """Hold `amount` in every account if it fits in all; else the account it does not fit."""
        ...

    async def settle(self, accounts: list[Account], held: float, cost: float) -> None: ...


class InProcessLedger:
    def __init__(self) -> None:
        self._spent: dict[str, float] = {}
        self._held: dict[str, float] = {}
        self._opening = asyncio.Lock()

    async def reserve(self, accounts: list[Account], amount: float, spent_so_far: Callable[[Account], Awaitable[float]]) -> Account | None:
        for account in accounts:
            if account.name not in self._spent:
                async with self._opening:  # one reading of the request log per account
                    if account.name not in self._spent:
                        self._spent[account.name] = await spent_so_far(account)
        # no await from here on: the check and the hold are one step
        for account in accounts:
            if self._spent[account.name] + self._held.get(account.name, 0.0) + amount > account.budget_usd + 1e-12:
                return account
        for account in accounts:
            self._held[account.name] = self._held.get(account.name, 0.0) + amount
        return None

    async def settle(self, accounts: list[Account], held: float, cost: float) -> None:
        for account in accounts:
            self._held[account.name] = max(0.0, self._held.get(account.name, 0.0) - held)
            self._spent[account.name] = self._spent.get(account.name, 0.0) + cost


def accounts_of(key: KeyPrincipal, now: float) -> list[Account]:
    accounts = []
    if key.budget_usd is not None:
        accounts.append(_account("key", key.id, key.budget_usd, key.budget_period or "month", now))
    if key.team_id and key.team_budget_usd is not None:
        accounts.append(_account("team", key.team_id, key.team_budget_usd, key.team_budget_period or "month", now))
    return accounts


def _account(scope: str, owner_id: str, budget: float, period: str, now: float) -> Account:
    start, end = period_bounds(period, now)
    return Account(f"{scope}:{owner_id}:{int(start)}", scope, owner_id, budget, start, end)


def period_bounds(period: str, now: float) -> tuple[float, float | None]:
    """The UTC start and end (unix seconds) of the period holding `now`."""
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start, end = day, day + dt.timedelta(days=1)
    elif period == "week":
        start = day - dt.timedelta(days=day.weekday())
        end = start + dt.timedelta(days=7)
    elif period == "month":
        start = day.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)
    else:
        return 0.0, None
    return start.timestamp(), end.timestamp()


def worst_case_tokens(request: ChatRequest) -> tuple[int, int]:
    """The most tokens this request can count: its prompt (by the catalog's tokenizer), and
    `max_tokens` (else the model's context window) of output."""
    spec = request.model_spec
    prompt = count_message_tokens(request.messages, request.provider.tokenizer_for(request.model))
    output = request.effective_parameters.get("max_tokens") or (spec.context_window if spec else None) or 0
    return prompt, int(output)


def worst_case_cost(request: ChatRequest, tokens: tuple[int, int]) -> float:
    """The most this request can cost: its prompt at the highest input price, and all the
    output it may produce at the output price (`tokens`: its `worst_case_tokens`)."""
    spec = request.model_spec
    if spec is None or not spec.has_price:
        raise UnpricedModelError(
            f"model {request.provider.id}/{request.model} has no price in the catalog, and this key has a budget: "
            "give the model its prices (LLMGATEWAY_CATALOG)"
        )
    assert spec.input_cost_per_token is not None and spec.output_cost_per_token is not None
    input_price = max(spec.input_cost_per_token, spec.cache_write_input_cost_per_token or 0.0)
    prompt, output = tokens
    return prompt * input_price + output * spec.output_cost_per_token
