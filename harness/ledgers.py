"""A ledger with known calls in it, for the tests of everything that reads one."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from model_gateway.ledger import Usage, open_ledger

Call = tuple[str, str, str, int, int, str]  # tenant, model, day, input tokens, output tokens, cost in dollars


def record_calls(url: str, calls: Iterable[Call]) -> str:
    """``url`` after recording ``calls`` in its ledger (made when missing), request ids ``req-0``, ``req-1``..."""
    ledger = open_ledger(url)
    try:
        for n, (tenant, model, day, inp, out, cost) in enumerate(calls):
            ledger.record(Usage(tenant, model, day, inp, out, Decimal(cost), f"req-{n}"))
    finally:
        ledger.close()
    return url
