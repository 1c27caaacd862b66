"""A fleet diff for people and for machines: a pull-request comment in markdown, or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .cost import COST_RULE, money, money_md
from .diff import PLAN_SETTINGS, ChangeKind, FleetDiff, TenantChange, Value
from .model import Limits


def _limits_json(limits: Limits | None) -> dict[str, float | int] | None:
    if limits is None:
        return None
    return {"cpus": limits.cpus, "memory_gib": limits.memory_gib, "storage_gib": limits.storage_gib}


def render_json(diff: FleetDiff) -> str:
    """The diff as JSON; every key is always present, money is a string with two decimals. A finding
    names its tenant, or (``tenant`` null) the target it is about."""
    counts = diff.count()
    doc: dict[str, Any] = {
        "base": diff.base,
        "head": diff.head,
        "destructive": [
            {"tenant": f.tenant, "target": f.target, "reason": f.reason, "message": f.message} for f in diff.destructive
        ],
        "affected_shards": list(diff.affected_shards),
        "summary": {"tenants_changed": len(diff.tenants), **counts, "settings_changed": len(diff.settings)},
        "cost": {
            "base_monthly": money(diff.base_cost),
            "head_monthly": money(diff.head_cost),
            "delta": money(diff.cost_delta),
            "rule": COST_RULE,
        },
        "tenants": [
            {
                "id": c.id,
                "kind": c.kind,
                "old_state": c.old_state,
                "new_state": c.new_state,
                "old_shard": c.old_shard,
                "new_shard": c.new_shard,
                "changes": [{"field": f.field, "old": f.old, "new": f.new} for f in c.fields],
                "old_limits": _limits_json(c.old_limits),
                "new_limits": _limits_json(c.new_limits),
                "old_cost": money(c.old_cost),
                "new_cost": money(c.new_cost),
                "cost_delta": money(c.cost_delta),
            }
            for c in diff.tenants
        ],
        "settings": [{"path": s.path, "old": s.old, "new": s.new, "shards": list(s.shards)} for s in diff.settings],
    }
    return json.dumps(doc, indent=2) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _cell(value: Value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value) or "[]"
    return str(value)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _limits_md(limits: Limits | None) -> str:
    if limits is None:
        return "—"
    return f"{limits.cpus:g} / {limits.memory_gib:g} / {limits.storage_gib:g}"


def _details(change: TenantChange) -> str:
    if change.kind == "added":
        return f"new on {change.new_shard} ({change.new_state})"
    if change.kind == "removed":
        return f"line removed ({change.old_state})"
    # A new plan brings its own settings and price; the plan's name says it (the JSON lists them).
    implied = {"state", *PLAN_SETTINGS, "monthly_price"} if change.field("plan") else {"state"}
    parts = [f"{f.field} {_cell(f.old)} → {_cell(f.new)}" for f in change.fields if f.field not in implied]
    state = f"{change.old_state} → {change.new_state}" if change.old_state != change.new_state else ""
    return "; ".join(p for p in (state, *parts) if p) or "limits or price"


def _limits_cell(change: TenantChange) -> str:
    if change.old_limits == change.new_limits:
        return _limits_md(change.new_limits)
    return f"{_limits_md(change.old_limits)} → {_limits_md(change.new_limits)}"


def _cost_cell(change: TenantChange) -> str:
    if change.old_cost == change.new_cost:
        return money_md(change.new_cost)
    return f"{money_md(change.old_cost)} → {money_md(change.new_cost)} ({money_md(change.cost_delta, sign=True)})"


def _ordered(changes: Iterable[TenantChange]) -> list[TenantChange]:
    """Removed first (the riskiest), then as the kinds are listed, by id within a kind."""
    rank: dict[ChangeKind, int] = {
        "removed": 0,
        "offboarded": 1,
        "changed": 2,
        "suspended": 3,
        "resumed": 4,
        "added": 5,
    }
    return sorted(changes, key=lambda c: (rank[c.kind], c.id))


def render_markdown(diff: FleetDiff, *, max_rows: int | None = 300) -> str:
    """A pull-request comment: destructive warnings, summary, table of tenant changes, settings,
    affected stacks, cost delta, and the cost rule as a footnote. ``max_rows`` caps the table
    (``None``: every row); the JSON form always has every change."""
    counts = diff.count()
    out = [f"### Tenant diff: `{_md(diff.base)}` → `{_md(diff.head)}`", ""]
    if diff.destructive:
        out += [
            "> [!CAUTION]",
            f"> **Destructive: {_count(len(diff.destructive), 'finding')}.** Each needs its documented migration "
            "(`tenantctl diff` exits 2).",
            ">",
            *(f"> - **{_md(f.subject)}** ({f.reason}): {_md(f.message)}" for f in diff.destructive),
            "",
        ]
    if diff.tenants:
        kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
        summary = f"**{_count(len(diff.tenants), 'tenant')} change** ({kinds})"
    else:
        summary = "**No tenant changes**"
    if diff.settings:
        summary += f", {_count(len(diff.settings), 'setting')}"
    stacks = ", ".join(f"`{s}`" for s in diff.affected_shards) or "none"
    out += [f"{summary}; cost {money_md(diff.cost_delta, sign=True)} / month[^cost]; stacks: {stacks}", ""]
    if diff.tenants:
        out += [
            "| tenant | change | details | limits: CPUs / memory GiB / storage GiB | cost / month |",
            "|---|---|---|---|--:|",
        ]
        rows = _ordered(diff.tenants)
        shown = rows if max_rows is None else rows[:max_rows]
        for c in shown:
            out.append(f"| {c.id} | {c.kind} | {_md(_details(c))} | {_limits_cell(c)} | {_cost_cell(c)} |")
        if len(shown) < len(rows):
            out.append(f"| … | | {len(rows) - len(shown)} more tenants: see `--format json` | | |")
        out.append("")
    if diff.settings:
        out += ["| setting | old | new | stacks |", "|---|---|---|---|"]
        for item in diff.settings:
            used_by = ", ".join(item.shards) or "none"
            out.append(f"| `{_md(item.path)}` | {_md(_cell(item.old))} | {_md(_cell(item.new))} | {used_by} |")
        out.append("")
    out += [
        f"**Monthly cost delta: {money_md(diff.cost_delta, sign=True)}** "
        f"({money_md(diff.base_cost)} → {money_md(diff.head_cost)})",
        "",
        f"**Affected stacks:** {stacks}",
        "",
        f"[^cost]: {COST_RULE}",
        "",
    ]
    return "\n".join(out)
