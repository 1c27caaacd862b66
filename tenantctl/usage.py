"""tenantctl usage: metered model usage from the gateway's ledger, per tenant, model and day, with totals.

Markdown is for people; JSON and CSV are for billing systems (exact costs, ten decimal places, as the
ledger keeps them). The ledger is named by ``--ledger`` or ``OPENCLAW_LEDGER_URL``; it is only read.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import typer

from model_gateway.ledger import (
    LEDGER_URL_ENV,
    Ledger,
    LedgerError,
    UsageRow,
    UsageTotal,
    amounts,
    check_month,
    exact,
    open_ledger,
    total,
    totals_by,
    utc_day,
)

from .console import fail, or_exit

PREFIX = "tenantctl usage: "
CSV_COLUMNS = ("tenant", "model", "day", "requests", "input_tokens", "output_tokens", "cost_usd")


class UsageFormat(StrEnum):
    md = "md"
    json = "json"
    csv = "csv"


LedgerOpt = Annotated[
    str | None,
    typer.Option(
        "--ledger",
        envvar=LEDGER_URL_ENV,
        show_envvar=True,
        help="The model gateway's ledger: sqlite:////abs/path.sqlite or postgresql://user@host/db.",
    ),
]
MonthOpt = Annotated[str | None, typer.Option("--month", help="YYYY-MM (UTC); the current month without it.")]


def register(app: typer.Typer) -> None:
    """Add ``usage`` to ``app``."""
    app.command("usage")(usage)


def resolve_month(month: str | None, prefix: str) -> str:
    """``month`` checked, or the current UTC month; a bad one ends the command with one line."""
    return or_exit(lambda: check_month(month or utc_day()[:7]), prefix=prefix, also=(ValueError,))


def read_ledger(url: str | None, prefix: str, read: Callable[[Ledger], list[UsageRow]]) -> list[UsageRow]:
    """``read(ledger)`` on the ledger at ``url``, closed afterwards; no URL or an unusable ledger ends the
    command with one line."""
    if not url:
        fail(f"{prefix}no ledger given: pass --ledger URL or set {LEDGER_URL_ENV}")
    given: str = url

    def run() -> list[UsageRow]:
        ledger = open_ledger(given, create=False)
        try:
            return read(ledger)
        finally:
            ledger.close()

    return or_exit(run, prefix=prefix, also=(LedgerError,))


def usage(
    month: MonthOpt = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant.")] = None,
    format: Annotated[UsageFormat, typer.Option("--format", help="md (people), json or csv (billing).")] = (
        UsageFormat.md
    ),
    ledger: LedgerOpt = None,
) -> None:
    """Metered model usage of a month: input and output tokens, requests and cost per tenant, per model and
    per day, with totals. Reads the model gateway's ledger (--ledger or OPENCLAW_LEDGER_URL)."""
    chosen = resolve_month(month, PREFIX)
    rows = read_ledger(ledger, PREFIX, lambda led: led.usage(month=chosen, tenant=tenant))
    render = {UsageFormat.md: render_markdown, UsageFormat.json: render_json, UsageFormat.csv: render_csv}[format]
    sys.stdout.write(render(rows, chosen, tenant))


# --- rendering ----------------------------------------------------------------------------------


def dollars_md(value: Decimal) -> str:
    """A cost for people: four decimals (model calls cost fractions of a cent) and thousands separators."""
    return format(value.quantize(Decimal("0.0001")), ",.4f")


def usage_json(rows: list[UsageRow], month: str, tenant: str | None) -> dict[str, object]:
    """The report as a JSON-ready document: totals, then per tenant, per tenant and model, per day."""
    return {
        "month": month,
        "tenant": tenant,
        "total": amounts(total(rows)),
        "tenants": [{"tenant": k, **amounts(v)} for k, v in totals_by(rows, lambda r: r.tenant).items()],
        "models": [
            {"tenant": k[0], "model": k[1], **amounts(v)}
            for k, v in totals_by(rows, lambda r: (r.tenant, r.model)).items()
        ],
        "days": [{"tenant": r.tenant, "model": r.model, "day": r.day, **amounts(r)} for r in rows],
    }


def render_json(rows: list[UsageRow], month: str, tenant: str | None) -> str:
    return json.dumps(usage_json(rows, month, tenant), indent=2) + "\n"


def render_csv(rows: list[UsageRow], month: str, tenant: str | None) -> str:
    """One line per tenant, model and day (the ledger's own grain); a billing system adds up what it needs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow((r.tenant, r.model, r.day, r.requests, r.input_tokens, r.output_tokens, exact(r.cost_usd)))
    return buffer.getvalue()


def _md_cells(t: UsageTotal | UsageRow) -> str:
    return f"{t.requests:,} | {t.input_tokens:,} | {t.output_tokens:,} | {dollars_md(t.cost_usd)}"


def render_markdown(rows: list[UsageRow], month: str, tenant: str | None) -> str:
    """Summary line, then tables per tenant, per tenant and model, and per day."""
    whole = total(rows)
    scope = f" of {tenant}" if tenant else ""
    by_tenant = totals_by(rows, lambda r: r.tenant)
    lines = [
        f"### Model usage{scope}, {month} (UTC)",
        "",
        f"**Total: ${dollars_md(whole.cost_usd)}** for {whole.requests:,} requests, {whole.input_tokens:,} input "
        f"and {whole.output_tokens:,} output tokens, {len(by_tenant)} tenants",
    ]
    if not rows:
        return "\n".join([*lines, "", "No model usage recorded.", ""])
    numbers = "requests | input tokens | output tokens | cost (USD) |"
    lines += ["", f"| tenant | {numbers}", "|---|--:|--:|--:|--:|"]
    lines += [f"| {k} | {_md_cells(v)} |" for k, v in by_tenant.items()]
    lines += [f"| **total** | {_md_cells(whole)} |", "", f"| tenant | model | {numbers}", "|---|---|--:|--:|--:|--:|"]
    lines += [
        f"| {k[0]} | {k[1]} | {_md_cells(v)} |" for k, v in totals_by(rows, lambda r: (r.tenant, r.model)).items()
    ]
    lines += ["", f"| tenant | model | day | {numbers}", "|---|---|---|--:|--:|--:|--:|"]
    lines += [f"| {r.tenant} | {r.model} | {r.day} | {_md_cells(r)} |" for r in rows]
    return "\n".join([*lines, ""])
