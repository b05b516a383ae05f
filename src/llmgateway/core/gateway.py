"""The gateway: resolves provider, credentials and parameters, then starts calls.

It is the one object every API surface talks to, and the owner of the long-lived parts
(catalog, adapters and their pooled clients, the request log).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Sequence, TypeVar

from opentelemetry import trace
from pydantic import SecretStr

from llmgateway.catalog import Catalog, ProviderSpec, RouteSpec, RouteTarget
from llmgateway.core.attempts import RetryPolicy
from llmgateway.core.cache import ResponseCache
from llmgateway.core.call import Call
from llmgateway.core.cooldown import Cooldowns, SharedCooldowns, deployment_of
from llmgateway.core.embeddings import EmbeddingCall
from llmgateway.core.governance import Governance
from llmgateway.core.limits import check_request_limits
from llmgateway.core.parameters import validate_parameters
from llmgateway.core.provider_setup import ProviderSetup
from llmgateway.core.recording import CallObserver, Recorder
from llmgateway.core.secrets import SecretScrubber, server_credentials
from llmgateway.errors import (
    ClientKeysNotAllowedError,
    GatewayError,
    ModelNotFoundError,
    UnknownProviderError,
    ValidationFailedError,
)
from llmgateway.providers.registry import AdapterRegistry, adapter_is_installed
from llmgateway.settings import Settings
from llmgateway.tracking.records import key_fingerprint
from llmgateway.vocabulary.requests import ChatInput, ChatRequest, EmbeddingRequest, Origin
from llmgateway.vocabulary.results import CallResult, EmbeddingOutcome

N = TypeVar("N", int, float)
logger = logging.getLogger("llmgateway.gateway")
_NOOP_TRACER = trace.NoOpTracer()


class Gateway:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        adapters: AdapterRegistry,
        recorder: Recorder,
        *,
        observers: Sequence[CallObserver] = (),
        tracer: trace.Tracer | None = None,
        shared_cooldowns: SharedCooldowns | None = None,
        cache: ResponseCache | None = None,
        governance: Governance | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.adapters = adapters
        self.recorder = recorder
        self._observers = tuple(observers)
        self._tracer = tracer
        self.cache = cache
        self.governance = governance
        self._retry_policy = RetryPolicy(settings.retry_backoff_base_s, settings.retry_backoff_max_s)
        self.cooldowns = Cooldowns(settings.cooldown_failures, settings.cooldown_s, shared=shared_cooldowns)
        self.scrubber = SecretScrubber(server_credentials(settings, catalog))
        self._setups: dict[str, ProviderSetup] = {}
        self._running = 0  # calls started and not yet finished (chat and embeddings)
        self._none_running = asyncio.Event()
        self._none_running.set()
        self._route_keys: dict[tuple[str, ...], SecretStr | None] = {}

    def provider(self, provider_id: str) -> ProviderSpec:
        spec = self.catalog.provider(provider_id)
        if spec is None:
            raise UnknownProviderError(provider_id, self.catalog.provider_ids())
        return spec

    def resolve_model(self, name: str) -> tuple[str, str]:
        """provider/model or an alias, as (provider, model)."""
        resolved = self.catalog.resolve_model(name)
        if resolved is None:
            raise ModelNotFoundError(
                f"unknown model {name!r}: name it as provider/model (e.g. openai/gpt-4o-mini), by an alias "
                "or by a route of GET /v1/models"
            )
        return resolved

    async def build_named_request(self, name: str, chat: ChatInput, origin: Origin) -> ChatRequest:
        """A request for a model named as `/v1` names it: a route, provider/model or an alias."""
        route = self.catalog.routes.get(name)
        if route is not None:
            return await self.build_route_request(route, chat, origin)
        try:
            provider_id, model = self.resolve_model(name)
        except GatewayError as exc:
            self.record_refusal(exc, origin, "unknown", name, chat.session_id)
            raise
        return await self.build_request(provider_id, model, chat, origin)

    async def build_request(self, provider_id: str, model: str, chat: ChatInput, origin: Origin) -> ChatRequest:
        """A validated request for one provider's model, with its fallbacks, and the earlier
        turns of its session put before its own messages. A named route stands where a
        provider does (the engine API's `/chat/{route}`), so both APIs reach routes.

        A request refused here is recorded too, so the log holds every request.
        """
        route = self.catalog.routes.get(provider_id) if self.catalog.provider(provider_id) is None else None
        if route is not None:
            return await self.build_route_request(route, chat, origin)
        try:
            Governance.check_model(origin.key, f"{provider_id}/{model}")
            spec = self.provider(provider_id)
            request = self._target(spec, model, chat, origin, self._api_key(spec, chat.api_key))
            request.fallbacks = [self._fallback(name, chat, origin) for name in chat.fallbacks]
            return await self._bounded_with_history(request, chat, f"{provider_id}/{model}")
        except GatewayError as exc:
            self.record_refusal(exc, origin, provider_id, model, chat.session_id)
            raise

    async def build_route_request(self, route: RouteSpec, chat: ChatInput, origin: Origin) -> ChatRequest:
        """A request for a named route: its deployments in weighted random order (cooling ones
        last), then the route's fallbacks, then the request's own."""
        try:
            Governance.check_model(origin.key, route.name)
            deployments = [self._route_target(target, chat, origin) for target in route.targets]
            ordered = self._balance(deployments, [t.weight for t in route.targets])
            request = ordered[0]
            request.fallbacks = ordered[1:] + [self._fallback(name, chat, origin) for name in (*route.fallbacks, *chat.fallbacks)]
            return await self._bounded_with_history(request, chat, route.name)
        except GatewayError as exc:
            self.record_refusal(exc, origin, route.name, route.name, chat.session_id)
            raise

    def _target(self, spec: ProviderSpec, model: str, chat: ChatInput, origin: Origin, api_key: SecretStr | None) -> ChatRequest:
        return ChatRequest(
            provider=spec,
            model=model,
            messages=chat.messages,
            parameters=validate_parameters(spec, model, chat.parameters),
            tools=chat.tools,
            tool_choice=chat.tool_choice,
            response_format=chat.response_format,
            api_key=api_key,
            base_url=self._setup(spec).base_url(),
            session_id=chat.session_id,
            retries=_at_most(chat.retries, origin.key.retries if origin.key else None, self.settings.default_retries),
            origin=origin,
            vendor_options=self._setup(spec).vendor_options(model),
            timeout_s=_at_most(chat.timeout_s, origin.key.timeout_s if origin.key else None, None),
            first_token_timeout_s=chat.first_token_timeout_s,
            keep_content=chat.keep_content,
        )

    def _fallback(self, name: str, chat: ChatInput, origin: Origin) -> ChatRequest:
        """A fallback target; it uses the server's key (a client's key is for the first target)."""
        resolved = self.catalog.resolve_model(name)
        if resolved is None:
            raise ValidationFailedError(f"fallbacks: unknown target {name!r}; name it as provider/model")
        spec = self.provider(resolved[0])
        return self._target(spec, resolved[1], chat, origin, self._api_key(spec, None))

    def _route_target(self, target: RouteTarget, chat: ChatInput, origin: Origin) -> ChatRequest:
        spec = self.provider(target.provider)
        key = self._route_key(target.api_key_env) or self._api_key(spec, None)
        return self._target(spec, target.model, chat, origin, key)

    def _balance(self, deployments: list[ChatRequest], weights: list[float]) -> list[ChatRequest]:
        """Weighted random order (Efraimidis-Spirakis keys), deployments cooling down last."""
        keyed = [
            (not self.cooldowns.available(deployment_of(d)), -(random.random() ** (1.0 / w)), d)
            for d, w in zip(deployments, weights)
        ]
        keyed.sort(key=lambda entry: entry[:2])
        return [d for _, _, d in keyed]

    async def _bounded_with_history(self, request: ChatRequest, chat: ChatInput, requested: str) -> ChatRequest:
        """The earlier turns of the session put before the request's messages; the request
        limits are checked on the result, which is what goes upstream (and what the cache
        key is made of, with the name the client asked for)."""
        if chat.session_id:
            history = await self.recorder.conversation(chat.session_id)
            if history:
                for target in (request, *request.fallbacks):
                    target.messages = [*history, *chat.messages]
        check_request_limits(self.settings, request.messages, chat.parameters, chat.tools, chat.response_format)
        key = request.origin.key
        if key is not None and self.governance is not None:
            targets = [request, *request.fallbacks]
            lease_s = (request.timeout_s or self.settings.request_timeout_s) + 60
            limits, hold = await self.governance.hold(key, targets, lease_s)
            for target in targets:
                target.budget_hold, target.limits_hold = hold, limits
                target.rate_limit_headers = limits.headers if limits is not None else None
        if self.cache is not None:
            request.cache = chat.cache
            client_key = chat.api_key if chat.api_key is not None and chat.api_key.get_secret_value() else None
            tenant = "|".join(filter(None, [(key.team_id or key.id) if key else None, key_fingerprint(client_key)]))
            request.cache_key = self.cache.key(requested, request, chat.cache, tenant or None)
        return request

    async def embed(
        self,
        provider_id: str,
        *,
        model: str,
        inputs: list[str],
        options: dict[str, Any],
        origin: Origin,
    ) -> EmbeddingOutcome:
        """Embed texts through the same rules as a chat call: retried, timed, priced, recorded."""
        try:
            spec = self.provider(provider_id)
            request = EmbeddingRequest(
                provider=spec,
                model=model,
                inputs=inputs,
                options=options,
                api_key=self._api_key(spec, None),
                base_url=self._setup(spec).base_url(),
                origin=origin,
                vendor_options=self._setup(spec).vendor_options(model),
                retries=self.settings.default_retries,
            )
        except GatewayError as exc:
            self.record_refusal(exc, origin, provider_id, model, None)
            raise
        self._call_started()
        call = EmbeddingCall(
            request,
            self.adapters.get(spec.adapter),
            timeout_s=self.settings.request_timeout_s,
            retry_policy=self._retry_policy,
            cooldowns=self.cooldowns,
            scrubber=self.scrubber,
            max_attempts=self.settings.max_attempts,
            tracer=self._tracer or _NOOP_TRACER,
            on_finish=self._embedded,
        )
        return await call.run()

    def _embedded(self, outcome: EmbeddingOutcome) -> None:
        self.recorder.record_embedding(outcome)
        for observer in self._observers:
            observer.embedded(outcome)
        self._call_ended()

    def record_refusal(
        self, error: GatewayError, origin: Origin, provider_id: str, model: str, session_id: str | None
    ) -> None:
        """Record a request refused before any upstream call, and tell every observer."""
        self.recorder.record_refusal(
            error,
            surface=origin.surface,
            provider=provider_id,
            model=model,
            session_id=session_id,
            client_address=origin.client_address,
            latency_s=time.monotonic() - origin.received_at if origin.received_at else 0.0,
            key=origin.key,
        )
        for observer in self._observers:
            observer.refused(self.catalog.provider(provider_id), model)

    def _call_started(self) -> None:
        self._running += 1
        self._none_running.clear()
        for observer in self._observers:
            observer.started()

    def _call_ended(self) -> None:
        self._running -= 1
        if self._running == 0:
            self._none_running.set()

    async def calls_ended(self, timeout_s: float) -> bool:
        """Wait (at most `timeout_s`) until every started call has finished and been recorded:
        at shutdown, calls the server cancelled end in their own time. True when none runs."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._none_running.wait()
        except TimeoutError:
            return False
        return True

    async def start(self, request: ChatRequest) -> Call:
        """A call, ready to stream: the cached answer, or the request, then its fallbacks."""
        cache = None
        if self.cache is not None and request.cache_key is not None:
            cache = await self.cache.use(request.cache_key, request.cache)
        self._call_started()
        return Call(
            [request, *request.fallbacks],
            self.adapters.get,
            received_at=request.origin.received_at,
            timeout_s=request.timeout_s or self.settings.request_timeout_s,
            first_token_timeout_s=request.first_token_timeout_s or self.settings.first_token_timeout_s,
            retry_policy=self._retry_policy,
            cooldowns=self.cooldowns,
            scrubber=self.scrubber,
            max_attempts=self.settings.max_attempts,
            on_finish=self._finished,
            tracer=self._tracer,
            cache=cache,
        )

    async def _finished(self, result: CallResult) -> None:
        if result.request.budget_hold is not None and self.governance is not None:
            await self.governance.settle(result.request.budget_hold, result.metrics["cost_usd"])
        if result.request.limits_hold is not None and self.governance is not None:
            await self.governance.release(result.request.limits_hold, result.tokens.total_tokens)
        self.recorder.record(result)
        for observer in self._observers:
            observer.finished(result)
        self._call_ended()
        await self.recorder.save_turn(result)

    async def warm_up(self, readiness: dict[str, list[str]]) -> None:
        """Import and build the adapters of the providers configured to serve, off the event loop,
        and let each pay ahead what its first call would (`ProviderAdapter.warm_up`).

        Started once the server listens, so it never delays being healthy; a provider nobody
        configured is imported on its first request only, and costs no start-up time or memory.
        """
        for adapter_name in self.configured_adapters(readiness):
            try:
                await asyncio.to_thread(self.adapters.import_adapter, adapter_name)
                await self.adapters.get(adapter_name).warm_up()
            except Exception:  # the provider's first request reports it to its client
                logger.exception("the %s adapter could not be loaded", adapter_name)

    def configured_adapters(self, readiness: dict[str, list[str]]) -> list[str]:
        """The adapters of the providers that are installed, have everything set to serve
        (`readiness`: what `readiness_at_start` found) and were given something by the
        operator: one ready on the catalog's defaults alone waits for its first request."""
        names = []
        for provider_id, missing in readiness.items():
            spec = self.provider(provider_id)
            if not missing and spec.adapter not in names and ProviderSetup.resolve(spec, self.settings).set_by_operator():
                names.append(spec.adapter)
        return names

    def readiness_at_start(self) -> dict[str, list[str]]:
        """What each provider misses to serve, read from the configuration without keeping it:
        each provider's configuration is kept from its first use, as a request finds it."""
        readiness = {}
        for provider_id in self.catalog.provider_ids():
            spec = self.provider(provider_id)
            readiness[provider_id] = _package_missing(spec) + ProviderSetup.resolve(spec, self.settings).missing()
        return readiness

    def missing_configuration(self, spec: ProviderSpec) -> list[str]:
        """What must be installed or set before the provider can serve; empty when ready."""
        return _package_missing(spec) + self._setup(spec).missing()

    def _setup(self, spec: ProviderSpec) -> ProviderSetup:
        setup = self._setups.get(spec.id)
        if setup is None:
            setup = self._setups[spec.id] = ProviderSetup.resolve(spec, self.settings)
        return setup

    def _api_key(self, spec: ProviderSpec, from_body: SecretStr | None) -> SecretStr | None:
        if from_body is not None and from_body.get_secret_value():
            if not self.settings.allow_client_keys:
                raise ClientKeysNotAllowedError(
                    "this gateway does not take provider keys from clients (LLMGATEWAY_ALLOW_CLIENT_KEYS=false): "
                    "leave 'api_key' out; the server's key is used"
                )
            return from_body
        return self._setup(spec).api_key()

    def _route_key(self, variables: tuple[str, ...]) -> SecretStr | None:
        """A route deployment's own key (its `api_key_env`), read once."""
        if variables not in self._route_keys:
            self._route_keys[variables] = next(filter(None, map(self.settings.vendor_secret, variables)), None)
        return self._route_keys[variables]

    async def aclose(self) -> None:
        await self.adapters.aclose()


def _package_missing(spec: ProviderSpec) -> list[str]:
    return [] if adapter_is_installed(spec.adapter) else [f"the Python package for the {spec.adapter!r} adapter"]


def _at_most(asked: N | None, keys: N | None, default: N | None) -> N | None:
    """What the client asked, within its key's setting; the key's setting when the client
    asked nothing; the gateway's default without either."""
    if keys is None:
        return default if asked is None else asked
    return keys if asked is None else min(asked, keys)
