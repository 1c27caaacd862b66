"""A tenant's metered model usage, read from the model gateway's ledger for ``GET /v1/tenants/{id}/usage``.

The ledger is opened per request and never created here: a missing or unreachable ledger is a 503 the
operator can act on, not an empty report.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from model_gateway.ledger import LedgerError, UsageRow, UsageTotal, open_ledger, total, totals_by

from .errors import ApiError
from .schemas import DayUsageOut, ModelUsageOut, UsageOut, UsageTotalOut

log = logging.getLogger("signup.usage")


def exact(value: Decimal) -> str:
    return f"{value.quantize(Decimal('1e-10')):f}"


def _total(t: UsageTotal | UsageRow) -> dict[str, int | str]:
    return {
        "requests": t.requests,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cost_usd": exact(t.cost_usd),
    }


def read_usage(ledger_url: str | None, tenant_id: str, month: str) -> list[UsageRow]:
    """The tenant's rows of ``month``; 503 when no ledger is configured or it cannot be read."""
    if not ledger_url:
        raise ApiError(
            503, "ledger_not_configured", "no model usage ledger is configured (set OPENCLAW_SIGNUP_LEDGER_URL)"
        )
    try:
        ledger = open_ledger(ledger_url, create=False)
        try:
            return ledger.usage(month=month, tenant=tenant_id)
        finally:
            ledger.close()
    except LedgerError as exc:
        log.warning("model usage ledger unavailable: %s", exc)
        raise ApiError(503, "ledger_unavailable", "the model usage ledger cannot be read right now") from None


def usage_out(tenant_id: str, month: str, rows: list[UsageRow]) -> UsageOut:
    return UsageOut(
        tenant_id=tenant_id,
        month=month,
        total=UsageTotalOut.model_validate(_total(total(rows))),
        models=[
            ModelUsageOut.model_validate({"model": model, **_total(t)})
            for model, t in totals_by(rows, lambda r: r.model).items()
        ],
        days=[DayUsageOut.model_validate({"model": r.model, "day": r.day, **_total(r)}) for r in rows],
    )


def tenant_usage(ledger_url: str | None, tenant_id: str, month: str | None) -> UsageOut:
    """The response for ``month`` (the current UTC month without it)."""
    chosen = month or datetime.now(UTC).strftime("%Y-%m")
    return usage_out(tenant_id, chosen, read_usage(ledger_url, tenant_id, chosen))
