"""Monthly budgets: what a tenant has spent this month, read from the ledger once and kept current here.

The proxy runs one worker and is the ledger's only writer, so after the first read of a month the
running sum in memory equals the ledger's; each check is then a dictionary lookup, not a query.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from model_gateway.ledger import next_month_start, utc_day


class MonthSpend(Protocol):
    def month_spend(self, tenant: str, month: str) -> Decimal: ...


def current_month() -> str:
    """The UTC month (YYYY-MM) of the ledger's day now, as `Gatekeeper.meter` files a call."""
    return utc_day()[:7]


def budget_message(budget: Decimal, month: str) -> str:
    """What the tenant's user reads when the month's budget is used up."""
    return f"monthly model budget of ${budget:.2f} used up; it renews on {next_month_start(month)}"


class SpendTracker:
    """Month-to-date spend per tenant, seeded from the ledger on first use of a (tenant, month)."""

    def __init__(self, ledger: MonthSpend) -> None:
        self._ledger = ledger
        self._spent: dict[tuple[str, str], Decimal] = {}

    def spent(self, tenant: str, month: str) -> Decimal:
        key = (tenant, month)
        if key not in self._spent:
            self._spent[key] = self._ledger.month_spend(tenant, month)
        return self._spent[key]

    def add(self, tenant: str, month: str, cost: Decimal) -> None:
        """Count a call just recorded in the ledger (a month not yet read is read in full later)."""
        key = (tenant, month)
        if key in self._spent:
            self._spent[key] += cost

    def refusal(self, tenant: str, budget: Decimal, month: str) -> str | None:
        """The budget message when the tenant has nothing left this month, else None."""
        if self.spent(tenant, month) >= budget:
            return budget_message(budget, month)
        return None
