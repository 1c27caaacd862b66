"""What a fleet costs per month: per tenant, per plan, per target and in total.

Money is ``Decimal`` throughout (plan prices have at most two decimal places, so every sum is
exact) and is written as a string with two decimals in JSON. The billing rule, stated with every
report (``COST_RULE``): **a tenant costs its plan's ``monthly_price`` while it is active; suspended
and offboarded tenants cost 0.**

Metered model spend (what the model gateway's ledger recorded for a month) comes in as plain data, a
mapping tenant id → dollars, and is added on top (``METERED_RULE``): every tenant pays what it used,
whatever its state now; spend of tenants the fleet file no longer lists is shown on its own line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .contract import TenantState
from .model import Fleet, Tenant

COST_RULE = (
    "A tenant costs its plan's monthly_price while it is active; suspended and offboarded tenants cost 0. "
    "Prices are the plan figures of the fleet file (built-in plans: tenants/catalog.py)."
)
METERED_RULE = (
    "Model spend is what the model gateway metered for the month (tokens at the catalog's per-model prices); "
    "every tenant pays what it used, whatever its state now."
)
ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def tenant_cost(fleet: Fleet, tenant: Tenant) -> Decimal:
    """The tenant's monthly cost: its plan's price while active, 0 when suspended or offboarded."""
    if tenant.state != "active":
        return ZERO
    return fleet.plans[tenant.plan].monthly_price


def fleet_cost(fleet: Fleet) -> Decimal:
    """What the whole fleet costs per month: the sum of its tenants' costs."""
    return sum((tenant_cost(fleet, t) for t in fleet.tenants), ZERO)


def money(value: Decimal) -> str:
    """Two decimals, no thousands separator: the JSON form (``1234.50``)."""
    return f"{value.quantize(CENT):f}"


def money_md(value: Decimal, *, sign: bool = False) -> str:
    """Two decimals with thousands separators, for people (``1,234.50``; ``+70.00`` with ``sign``)."""
    return format(value.quantize(CENT), "+,.2f" if sign else ",.2f")


@dataclass(frozen=True)
class TenantCost:
    id: str
    plan: str
    target: str
    shard: str
    state: TenantState
    monthly: Decimal
    model_spend: Decimal = ZERO  # metered, when the report has a month of it

    @property
    def total(self) -> Decimal:
        return self.monthly + self.model_spend


@dataclass(frozen=True)
class CostLine:
    """One plan's or one target's share: how many tenants, how many of them active, what they cost."""

    name: str
    tenants: int
    active: int
    monthly: Decimal
    price: Decimal | None = None  # the plan's monthly_price (plan lines only)


@dataclass(frozen=True)
class Metered:
    """The month's metered model spend, in total, and the part of it by tenants the fleet does not list."""

    month: str
    model_spend: Decimal
    unlisted: Decimal


@dataclass(frozen=True)
class CostReport:
    tenants: tuple[TenantCost, ...]
    plans: tuple[CostLine, ...]
    targets: tuple[CostLine, ...]
    total: CostLine
    metered: Metered | None = None

    @property
    def grand_total(self) -> Decimal:
        """Plan prices plus all metered spend (of unlisted tenants too)."""
        return self.total.monthly + (self.metered.model_spend if self.metered else ZERO)


def _lines(names: Iterable[str], items: Iterable[TenantCost], key: str) -> dict[str, list[TenantCost]]:
    grouped: dict[str, list[TenantCost]] = {name: [] for name in names}
    for item in items:
        grouped.setdefault(getattr(item, key), []).append(item)
    return grouped


def _line(name: str, items: list[TenantCost], price: Decimal | None = None) -> CostLine:
    return CostLine(
        name=name,
        tenants=len(items),
        active=sum(item.state == "active" for item in items),
        monthly=sum((item.monthly for item in items), ZERO),
        price=price,
    )


def cost_report(
    fleet: Fleet, model_spend: Mapping[str, Decimal] | None = None, *, month: str | None = None
) -> CostReport:
    """Monthly cost of every tenant (in file order), of every plan and target (sorted by name), and in total.

    Every plan and target the fleet declares has a line, with 0 tenants when none uses it. With
    ``model_spend`` (tenant id → metered dollars of ``month``) each tenant also carries its model spend.
    """
    spend = dict(model_spend or {})
    tenants = tuple(
        TenantCost(t.id, t.plan, t.target, t.shard, t.state, tenant_cost(fleet, t), spend.get(t.id, ZERO))
        for t in fleet.tenants
    )
    metered = None
    if model_spend is not None:
        if month is None:
            raise ValueError("metered model spend needs the month it was metered in")
        listed = {t.id for t in fleet.tenants}
        metered = Metered(
            month=month,
            model_spend=sum(spend.values(), ZERO),
            unlisted=sum((v for k, v in spend.items() if k not in listed), ZERO),
        )
    by_plan = _lines(fleet.plans, tenants, "plan")
    by_target = _lines(fleet.targets, tenants, "target")
    return CostReport(
        tenants=tenants,
        plans=tuple(_line(name, by_plan[name], fleet.plans[name].monthly_price) for name in sorted(by_plan)),
        targets=tuple(_line(name, by_target[name]) for name in sorted(by_target)),
        total=_line("total", list(tenants)),
        metered=metered,
    )


# --- rendering ----------------------------------------------------------------------------------


def _line_json(line: CostLine) -> dict[str, object]:
    out: dict[str, object] = {"name": line.name, "tenants": line.tenants, "active": line.active}
    if line.price is not None:
        out["price"] = money(line.price)
    out["monthly"] = money(line.monthly)
    return out


def _tenant_json(t: TenantCost, metered: bool) -> dict[str, object]:
    out: dict[str, object] = {
        "id": t.id,
        "plan": t.plan,
        "target": t.target,
        "shard": t.shard,
        "state": t.state,
        "monthly": money(t.monthly),
    }
    if metered:
        out["model_spend"] = money(t.model_spend)
        out["total"] = money(t.total)
    return out


def render_json(report: CostReport) -> str:
    """The report as JSON with fixed keys; money as strings with two decimals.

    With metered spend the total gains ``model_spend``, ``unlisted_model_spend`` and ``total`` (plan
    prices plus all model spend), each tenant ``model_spend`` and ``total``, and ``metered`` names the month.
    """
    metered = report.metered
    total = _line_json(report.total)
    if metered is not None:
        total["model_spend"] = money(metered.model_spend)
        total["unlisted_model_spend"] = money(metered.unlisted)
        total["total"] = money(report.grand_total)
    doc: dict[str, object] = {"rule": COST_RULE}
    if metered is not None:
        doc["metered"] = {"month": metered.month, "rule": METERED_RULE}
    doc |= {
        "total": total,
        "plans": [_line_json(line) for line in report.plans],
        "targets": [_line_json(line) for line in report.targets],
        "tenants": [_tenant_json(t, metered is not None) for t in report.tenants],
    }
    return json.dumps(doc, indent=2) + "\n"


def render_markdown(report: CostReport) -> str:
    """Summary line, tables per plan, per target and per tenant, and the billing rule as a footnote."""
    total = report.total
    lines = [
        "### Monthly cost",
        "",
        f"**Total: {money_md(total.monthly)}** per month for {total.tenants} tenants ({total.active} active)[^rule]",
        "",
        "| plan | price / month | tenants | active | cost / month |",
        "|---|--:|--:|--:|--:|",
    ]
    for line in report.plans:
        price = money_md(line.price) if line.price is not None else ""
        lines.append(f"| {line.name} | {price} | {line.tenants} | {line.active} | {money_md(line.monthly)} |")
    lines += ["", "| target | tenants | active | cost / month |", "|---|--:|--:|--:|"]
    for line in report.targets:
        lines.append(f"| {line.name} | {line.tenants} | {line.active} | {money_md(line.monthly)} |")
    if report.metered is None:
        lines += ["", "| tenant | plan | target | state | cost / month |", "|---|---|---|---|--:|"]
        for t in report.tenants:
            lines.append(f"| {t.id} | {t.plan} | {t.target} | {t.state} | {money_md(t.monthly)} |")
        lines += ["", f"[^rule]: {COST_RULE}", ""]
        return "\n".join(lines)
    metered = report.metered
    lines[2:2] = [
        f"**With model spend of {metered.month}: {money_md(report.grand_total)}** "
        f"(plans {money_md(total.monthly)} + models {money_md(metered.model_spend)})[^metered]",
        "",
    ]
    lines += [
        "",
        "| tenant | plan | target | state | plan price | model spend | total |",
        "|---|---|---|---|--:|--:|--:|",
    ]
    for t in report.tenants:
        lines.append(
            f"| {t.id} | {t.plan} | {t.target} | {t.state} | {money_md(t.monthly)} "
            f"| {money_md(t.model_spend)} | {money_md(t.total)} |"
        )
    if metered.unlisted:
        lines.append(
            f"| (not in the fleet file) | | | | | {money_md(metered.unlisted)} | {money_md(metered.unlisted)} |"
        )
    lines.append(
        f"| **total** | | | | {money_md(total.monthly)} | {money_md(metered.model_spend)} "
        f"| {money_md(report.grand_total)} |"
    )
    lines += ["", f"[^rule]: {COST_RULE}", f"[^metered]: {METERED_RULE}", ""]
    return "\n".join(lines)
