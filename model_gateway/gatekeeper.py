"""Admission and metering for one gateway process, independent of LiteLLM so it can be tested alone.

`Gatekeeper.admit` decides whether a request may reach an upstream (key, route, headers, body,
budget, rates) and `Gatekeeper.meter` writes a finished call to the ledger before it is answered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from model_gateway.budget import SpendTracker, current_month
from model_gateway.ledger import Ledger, Usage, utc_day
from model_gateway.limits import RateLimiter
from model_gateway.policy import (
    MODEL_ROUTES,
    RefusalError,
    check_body,
    check_fields,
    check_headers,
    check_route,
    presented_key,
)
from model_gateway.prices import ModelRoute
from model_gateway.registry import RegistryFile, TenantEntry
from model_gateway.usage_counts import TokenCount

log = logging.getLogger("model_gateway")


@dataclass(frozen=True)
class Admission:
    """A request let through: whose it is and which model it may use (None on routes without a model)."""

    tenant: TenantEntry
    model: str | None


class Gatekeeper:
    def __init__(self, routes: Mapping[str, ModelRoute], registry: RegistryFile, ledger: Ledger) -> None:
        self.routes = dict(routes)
        self.registry = registry
        self.ledger = ledger
        self.spend = SpendTracker(ledger)
        self.limiter = RateLimiter()
        # The ledger is read and written from worker threads; the in-memory sums follow one at a time.
        self._lock = threading.Lock()

    def identify(self, headers: Mapping[str, str]) -> TenantEntry:
        key = presented_key(headers)
        tenant = self.registry.current().lookup(key) if key else None
        if tenant is None:
            raise RefusalError(401, "unknown or revoked model key")
        return tenant

    def admit(
        self,
        route: str,
        headers: Mapping[str, str],
        body: Mapping[str, object] | None,
        query: Iterable[str] = (),
    ) -> Admission:
        """Let the request through or raise RefusalError; counts it against the tenant's request rate."""
        tenant = self.identify(headers)
        check_route(route)
        check_headers(headers.keys())
        check_fields(query)
        model = check_body(body or {}, tenant, self.routes) if route in MODEL_ROUTES else None
        with self._lock:
            refusal = None
            if model is not None:
                refusal = self.spend.refusal(tenant.tenant, tenant.budget_usd, current_month())
            if refusal is None:
                refusal = self.limiter.admit(tenant.tenant, tenant.rpm, tenant.tpm)
        if refusal is not None:
            raise RefusalError(429, refusal)
        return Admission(tenant, model)

    def meter(self, tenant: str, model: str, counts: TokenCount, request_id: str) -> Usage:
        """Price the call and record it; durable when this returns (the ledger's promise)."""
        route = self.routes.get(model)
        if route is None:
            raise ValueError(f"no route for model {model!r}")
        if not counts.seen:
            log.warning("upstream reported no usage for %s/%s (request %s)", tenant, model, request_id)
        input_tokens = counts.input_tokens or 0
        output_tokens = counts.output_tokens or 0
        now = datetime.now(UTC)
        usage = Usage(
            tenant=tenant,
            model=model,
            day=utc_day(now),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=route.cost(input_tokens, output_tokens),
            request_id=request_id,
        )
        self.ledger.record(usage)
        with self._lock:
            self.spend.add(tenant, usage.day[:7], usage.cost_usd)
            self.limiter.spend_tokens(tenant, input_tokens + output_tokens)
        return usage
