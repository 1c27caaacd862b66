"""The spend ledger on both back ends (SQLite and a real PostgreSQL server), with the same tests."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from model_gateway.ledger import (
    LedgerError,
    Usage,
    UsageRow,
    cost_e10,
    next_month_start,
    open_ledger,
    utc_day,
)

ROOT = Path(__file__).resolve().parents[2]


def call(tenant: str, request_id: str, *, model: str = "kimi-k2", day: str = "2026-05-03", cost: str = "0.01") -> Usage:
    return Usage(tenant, model, day, input_tokens=100, output_tokens=10, cost_usd=Decimal(cost), request_id=request_id)


def test_calls_add_up_per_tenant_model_and_day(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    try:
        ledger.record(call("acme", "r1", cost="0.0000012"))
        ledger.record(call("acme", "r2", cost="0.0300000"))
        ledger.record(call("acme", "r3", model="claude", cost="1.5"))
        ledger.record(call("acme", "r4", day="2026-05-04"))
        ledger.record(call("beta", "r5", cost="2"))
        assert ledger.usage() == [
            UsageRow("acme", "claude", "2026-05-03", 1, 100, 10, Decimal("1.5")),
            UsageRow("acme", "kimi-k2", "2026-05-03", 2, 200, 20, Decimal("0.0300012")),
            UsageRow("acme", "kimi-k2", "2026-05-04", 1, 100, 10, Decimal("0.01")),
            UsageRow("beta", "kimi-k2", "2026-05-03", 1, 100, 10, Decimal("2")),
        ]
        assert ledger.month_spend("acme", "2026-05") == Decimal("1.5400012")
        assert ledger.month_spend("beta", "2026-05") == Decimal("2")
    finally:
        ledger.close()


def test_a_request_recorded_twice_counts_once(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    try:
        for _ in range(3):
            ledger.record(call("acme", "same-id", cost="0.25"))
        assert ledger.month_spend("acme", "2026-05") == Decimal("0.25")
        assert [row.requests for row in ledger.usage()] == [1]
    finally:
        ledger.close()


def test_filters_by_month_and_tenant(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    try:
        ledger.record(call("acme", "april", day="2026-04-30", cost="1"))
        ledger.record(call("acme", "may", day="2026-05-01", cost="2"))
        ledger.record(call("beta", "may-b", day="2026-05-31", cost="4"))
        ledger.record(call("acme", "next-year", day="2027-05-01", cost="8"))
        assert ledger.month_spend("acme", "2026-04") == Decimal("1")
        assert ledger.month_spend("acme", "2026-05") == Decimal("2")
        assert ledger.month_spend("acme", "2026-06") == Decimal("0")
        assert ledger.month_spend("nobody", "2026-05") == Decimal("0")
        assert [r.day for r in ledger.usage(month="2026-05")] == ["2026-05-01", "2026-05-31"]
        assert [r.day for r in ledger.usage(tenant="acme")] == ["2026-04-30", "2026-05-01", "2027-05-01"]
        assert [(r.tenant, r.day) for r in ledger.usage(month="2026-05", tenant="beta")] == [("beta", "2026-05-31")]
        assert ledger.usage(month="2026-06") == []
    finally:
        ledger.close()


def test_recorded_usage_survives_reopening(ledger_url: str) -> None:
    first = open_ledger(ledger_url)
    first.record(call("acme", "r1", cost="0.5"))
    first.close()
    second = open_ledger(ledger_url)
    try:
        second.record(call("acme", "r1", cost="0.5"))  # the same call again, after a restart
        second.record(call("acme", "r2", cost="0.5"))
        assert second.month_spend("acme", "2026-05") == Decimal("1.0")
    finally:
        second.close()


def test_threads_sharing_one_ledger_lose_nothing(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(50):
                ledger.record(call("acme", f"t{worker}-{n}", cost="0.001"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors
        assert ledger.month_spend("acme", "2026-05") == Decimal("0.200")
        assert ledger.usage()[0].requests == 200
    finally:
        ledger.close()


def test_processes_writing_at_once_lose_nothing(ledger_url: str) -> None:
    """Several gateway workers on one ledger: each process has its own connection."""
    script = textwrap.dedent(
        """
        import sys
        from decimal import Decimal
        from model_gateway.ledger import Usage, open_ledger
        ledger = open_ledger(sys.argv[1])
        for n in range(100):
            ledger.record(Usage("acme", "kimi-k2", "2026-05-03", 1, 1, Decimal("0.01"), f"{sys.argv[2]}-{n}"))
        ledger.close()
        """
    )
    open_ledger(ledger_url).close()  # schema first, as the gateway's start does
    procs = [
        subprocess.Popen([sys.executable, "-c", script, ledger_url, f"p{n}"], cwd=ROOT, stderr=subprocess.PIPE)
        for n in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    ledger = open_ledger(ledger_url)
    try:
        assert ledger.month_spend("acme", "2026-05") == Decimal("3.00")
        assert ledger.usage()[0].requests == 300
    finally:
        ledger.close()


def test_bad_months_are_refused(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url)
    try:
        for month in ("2026-5", "2026-13", "may", "2026-05-01"):
            with pytest.raises(ValueError, match="YYYY-MM"):
                ledger.month_spend("acme", month)
            with pytest.raises(ValueError, match="YYYY-MM"):
                ledger.usage(month=month)
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"day": "2026-5-3"}, "YYYY-MM-DD"),
        ({"day": "2026-02-30"}, "day is out of range"),
        ({"input_tokens": -1}, "negative"),
        ({"cost_usd": Decimal("-0.01")}, "non-negative"),
        ({"cost_usd": Decimal("NaN")}, "finite"),
        ({"tenant": ""}, "tenant must not be empty"),
        ({"request_id": ""}, "request_id must not be empty"),
    ],
)
def test_a_malformed_call_is_refused(change: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "tenant": "acme",
        "model": "kimi-k2",
        "day": "2026-05-03",
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_usd": Decimal("0.01"),
        "request_id": "r1",
    }
    with pytest.raises(ValueError, match=message):
        Usage(**{**fields, **change})  # type: ignore[arg-type]


def test_costs_are_kept_to_ten_decimal_places() -> None:
    assert cost_e10(Decimal("0.00000000015")) == 2  # half-even
    assert cost_e10(Decimal("0.00000000025")) == 2
    assert cost_e10(Decimal("1")) == 10**10


def test_unusable_urls_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="unsupported ledger URL"):
        open_ledger("mysql://root:hunter2@db/ledger")
    with pytest.raises(LedgerError, match="absolute path"):
        open_ledger("sqlite:///relative.sqlite")
    with pytest.raises(LedgerError, match="no ledger at"):
        open_ledger(f"sqlite:///{tmp_path / 'missing.sqlite'}", create=False)
    with pytest.raises(LedgerError, match="cannot open"):
        open_ledger(f"sqlite:///{tmp_path / 'no-such-dir' / 'ledger.sqlite'}")
    with pytest.raises(
        LedgerError, match=re.escape("cannot open the ledger postgresql://u:***@127.0.0.1:1/db")
    ) as caught:
        open_ledger("postgresql://u:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(caught.value)


def test_sqlite_ledger_is_crash_safe(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = open_ledger(f"sqlite:///{path}")
    ledger.close()
    import sqlite3

    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_postgres_ledger_reconnects_after_the_server_dropped_it(postgres_server: str) -> None:
    import psycopg

    from .conftest import fresh_postgres_database

    url = fresh_postgres_database(postgres_server)
    ledger = open_ledger(url)
    try:
        ledger.record(call("acme", "before"))
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
        ledger.record(call("acme", "after"))
        assert ledger.month_spend("acme", "2026-05") == Decimal("0.02")
    finally:
        ledger.close()


def test_days_and_renewal_dates() -> None:
    late_evening_west = datetime(2026, 5, 31, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert utc_day(late_evening_west) == "2026-06-01"
    assert utc_day(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01"
    assert next_month_start("2026-05") == "2026-06-01"
    assert next_month_start("2026-12") == "2027-01-01"


def test_a_killed_writer_loses_no_call_it_reported_recorded(ledger_url: str) -> None:
    """Every record() that returned before the process was killed (SIGKILL, no clean-up) is in the ledger."""
    script = textwrap.dedent(
        """
        import sys
        from decimal import Decimal
        from model_gateway.ledger import Usage, open_ledger
        ledger = open_ledger(sys.argv[1])
        n = 0
        while True:
            ledger.record(Usage("acme", "kimi-k2", "2026-05-03", 1, 1, Decimal("0.01"), f"k-{n}"))
            print(n, flush=True)
            n += 1
        """
    )
    open_ledger(ledger_url).close()
    proc = subprocess.Popen([sys.executable, "-c", script, ledger_url], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    reported = [proc.stdout.readline() for _ in range(50)]
    proc.kill()
    proc.wait(timeout=30)
    assert reported[-1].strip() == "49"
    ledger = open_ledger(ledger_url)
    try:
        rows = ledger.usage()
        assert rows[0].requests >= 50
        assert ledger.month_spend("acme", "2026-05") == Decimal("0.01") * rows[0].requests
    finally:
        ledger.close()
