"""A tenant's metered model usage, read from the model gateway's ledger for ``GET /v1/tenants/{id}/usage``.

The ledger is opened on the first request that needs it and kept for the service's life (the ledger
reconnects a dropped PostgreSQL connection itself). It is never created here: a missing or
unreachable ledger is a 503 the operator can act on, not an empty report, and the next request tries
to open it again.
"""

from __future__ import annotations

import logging
import threading

from model_gateway.ledger import Ledger, LedgerError, UsageRow, amounts, open_ledger, total, totals_by, utc_day

from .errors import ApiError
from .schemas import DayUsageOut, ModelUsageOut, UsageOut, UsageTotalOut

log = logging.getLogger("signup.usage")


def usage_out(tenant_id: str, month: str, rows: list[UsageRow]) -> UsageOut:
    return UsageOut(
        tenant_id=tenant_id,
        month=month,
        total=UsageTotalOut.model_validate(amounts(total(rows))),
        models=[
            ModelUsageOut.model_validate({"model": model, **amounts(t)})
            for model, t in totals_by(rows, lambda r: r.model).items()
        ],
        days=[DayUsageOut.model_validate({"model": r.model, "day": r.day, **amounts(r)}) for r in rows],
    )


class UsageReader:
    """The service's read-only handle on the ledger at ``ledger_url`` (None: not configured)."""

    def __init__(self, ledger_url: str | None) -> None:
        self._url = ledger_url
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()

    def _open(self, url: str) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = open_ledger(url, create=False)
            return self._ledger

    def read(self, tenant_id: str, month: str) -> list[UsageRow]:
        """The tenant's rows of ``month``; 503 when no ledger is configured or it cannot be read."""
        if not self._url:
            raise ApiError(
                503, "ledger_not_configured", "no model usage ledger is configured (set OPENCLAW_SIGNUP_LEDGER_URL)"
            )
        try:
            return self._open(self._url).usage(month=month, tenant=tenant_id)
        except LedgerError as exc:
            log.warning("model usage ledger unavailable: %s", exc)
            raise ApiError(503, "ledger_unavailable", "the model usage ledger cannot be read right now") from None

    def tenant_usage(self, tenant_id: str, month: str | None) -> UsageOut:
        """The response for ``month`` (the current UTC month without it)."""
        chosen = month or utc_day()[:7]
        return usage_out(tenant_id, chosen, self.read(tenant_id, chosen))

    def close(self) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None
