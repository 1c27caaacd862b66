"""The spend ledger: every metered model call, per tenant, model and UTC day, durable before its answer.

One row per call (keyed by its request id, so recording a call twice counts it once) and a daily
roll-up per tenant, model and day, both written in one transaction: ``month_spend`` (asked before
every call, for the budget) and ``usage`` (the billing report) read only the roll-up, a few dozen
rows per tenant and month however many calls there were.

Two back ends behind one protocol: SQLite on the gateway's volume by default (WAL, ``synchronous=FULL``:
a committed record survives a crash or power loss), PostgreSQL when the operator runs one (psycopg 3,
imported only then). Money is kept as whole ten-billionths of a dollar (``cost_e10``), so sums are
exact integers in both; this module imports only the standard library.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol, TypeVar

DEFAULT_LEDGER_URL = "sqlite:////var/lib/openclaw-models/ledger.sqlite"
LEDGER_URL_ENV = "OPENCLAW_LEDGER_URL"
COST_SCALE = 10  # decimal places of the stored cost: cost_e10 = cost_usd * 10**10
SQLITE_BUSY_TIMEOUT_MS = 10_000
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_E10 = 2**63 - 1
K = TypeVar("K")
T = TypeVar("T")


class LedgerError(Exception):
    """The ledger cannot be opened, read or written (bad URL, missing file, database unreachable)."""


@dataclass(frozen=True)
class Usage:
    """One metered call: what the upstream reported it used, priced, under the calling tenant."""

    tenant: str
    model: str
    day: str  # UTC, YYYY-MM-DD
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    request_id: str

    def __post_init__(self) -> None:
        for name in ("tenant", "model", "request_id"):
            if not getattr(self, name):
                raise ValueError(f"usage: {name} must not be empty")
        check_day(self.day)
        if self.input_tokens < 0 or self.output_tokens < 0:
            raise ValueError("usage: token counts must not be negative")
        cost_e10(self.cost_usd)


@dataclass(frozen=True)
class UsageRow:
    """The calls of one tenant to one model on one UTC day, added up."""

    tenant: str
    model: str
    day: str
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal


@dataclass(frozen=True)
class UsageTotal:
    """Rows added up: the totals line of a usage report."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    def plus(self, row: UsageRow | UsageTotal) -> UsageTotal:
        return UsageTotal(
            self.requests + row.requests,
            self.input_tokens + row.input_tokens,
            self.output_tokens + row.output_tokens,
            self.cost_usd + row.cost_usd,
        )


def total(rows: Iterable[UsageRow]) -> UsageTotal:
    result = UsageTotal()
    for row in rows:
        result = result.plus(row)
    return result


def totals_by(rows: Iterable[UsageRow], key: Callable[[UsageRow], K]) -> dict[K, UsageTotal]:
    """Rows added up per ``key(row)``, in the order the keys first appear."""
    result: dict[K, UsageTotal] = {}
    for row in rows:
        k = key(row)
        result[k] = result.get(k, UsageTotal()).plus(row)
    return result


class Ledger(Protocol):
    def record(self, usage: Usage) -> None:
        """Add one call; durable when this returns. A request id already recorded is ignored."""
        ...

    def month_spend(self, tenant: str, month: str) -> Decimal:
        """What ``tenant`` spent in ``month`` (YYYY-MM, UTC), 0 when nothing was recorded."""
        ...

    def usage(self, *, month: str | None = None, tenant: str | None = None) -> list[UsageRow]:
        """Rows per tenant, model and day (sorted that way), optionally of one month and/or one tenant."""
        ...

    def close(self) -> None: ...


# --- values ---------------------------------------------------------------------------------------


def check_day(day: str) -> str:
    """``day`` when it is a real calendar date written YYYY-MM-DD, else ValueError."""
    if not DAY_RE.match(day):
        raise ValueError(f"day must be YYYY-MM-DD, not {day!r}")
    date.fromisoformat(day)
    return day


def check_month(month: str) -> str:
    """``month`` when it is written YYYY-MM, else ValueError."""
    if not MONTH_RE.match(month):
        raise ValueError(f"month must be YYYY-MM, not {month!r}")
    return month


def utc_day(when: datetime | None = None) -> str:
    """The UTC day of ``when`` (now by default), as the ledger keys it."""
    return (when or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d")


def month_of(day: str) -> str:
    return check_day(day)[:7]


def next_month_start(month: str) -> str:
    """The first day of the month after ``month``: when a monthly budget renews."""
    year, mon = (int(part) for part in check_month(month).split("-"))
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}-01"


def cost_e10(cost_usd: Decimal) -> int:
    """``cost_usd`` in whole ten-billionths of a dollar (half-even), as stored; ValueError when not a price."""
    try:
        if not cost_usd.is_finite() or cost_usd < 0:
            raise ValueError(f"usage: cost must be a finite, non-negative amount, not {cost_usd}")
        scaled = int(cost_usd.scaleb(COST_SCALE).to_integral_value(ROUND_HALF_EVEN))
    except (InvalidOperation, AttributeError) as exc:
        raise ValueError(f"usage: cost must be a Decimal, not {cost_usd!r}") from exc
    if scaled > _MAX_E10:
        raise ValueError(f"usage: cost {cost_usd} is out of range")
    return scaled


def usd(e10: int) -> Decimal:
    """A stored cost back in dollars, exact."""
    return Decimal(int(e10)).scaleb(-COST_SCALE)


def exact(value: Decimal) -> str:
    """A cost with the ledger's ten decimal places, for billing systems (``0.0300012000``)."""
    return f"{value.quantize(Decimal(1).scaleb(-COST_SCALE)):f}"


def amounts(t: UsageTotal | UsageRow) -> dict[str, int | str]:
    """The four figures of a row or total as reports write them, the cost ``exact``."""
    return {
        "requests": t.requests,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cost_usd": exact(t.cost_usd),
    }


# --- SQL shared by both back ends (parameter style "?" here, rewritten for psycopg) ----------------

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS model_requests (
        request_id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        model TEXT NOT NULL,
        day TEXT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_e10 BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS model_usage_daily (
        tenant TEXT NOT NULL,
        model TEXT NOT NULL,
        day TEXT NOT NULL,
        month TEXT NOT NULL,
        requests BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_e10 BIGINT NOT NULL,
        PRIMARY KEY (tenant, model, day)
    )""",
    "CREATE INDEX IF NOT EXISTS model_usage_daily_tenant_month ON model_usage_daily (tenant, month)",
    "CREATE INDEX IF NOT EXISTS model_usage_daily_month ON model_usage_daily (month)",
)
INSERT_REQUEST = (
    "INSERT INTO model_requests (request_id, tenant, model, day, input_tokens, output_tokens, cost_e10)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING"
)
ADD_TO_DAY = (
    "INSERT INTO model_usage_daily (tenant, model, day, month, requests, input_tokens, output_tokens, cost_e10)"
    " VALUES (?, ?, ?, ?, 1, ?, ?, ?) ON CONFLICT (tenant, model, day) DO UPDATE SET"
    " requests = model_usage_daily.requests + 1,"
    " input_tokens = model_usage_daily.input_tokens + excluded.input_tokens,"
    " output_tokens = model_usage_daily.output_tokens + excluded.output_tokens,"
    " cost_e10 = model_usage_daily.cost_e10 + excluded.cost_e10"
)
MONTH_SPEND = "SELECT COALESCE(SUM(cost_e10), 0) FROM model_usage_daily WHERE tenant = ? AND month = ?"
USAGE_COLUMNS = "tenant, model, day, requests, input_tokens, output_tokens, cost_e10"


def _usage_query(month: str | None, tenant: str | None) -> tuple[str, list[str]]:
    where: list[str] = []
    params: list[str] = []
    if tenant is not None:
        where.append("tenant = ?")
        params.append(tenant)
    if month is not None:
        where.append("month = ?")
        params.append(check_month(month))
    sql = f"SELECT {USAGE_COLUMNS} FROM model_usage_daily"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY tenant, model, day", params


def _record_params(usage: Usage) -> tuple[tuple[object, ...], tuple[object, ...]]:
    cost = cost_e10(usage.cost_usd)
    request = (usage.request_id, usage.tenant, usage.model, usage.day, usage.input_tokens, usage.output_tokens, cost)
    day = (usage.tenant, usage.model, usage.day, month_of(usage.day), usage.input_tokens, usage.output_tokens, cost)
    return request, day


def _rows(raw: Sequence[Sequence[Any]]) -> list[UsageRow]:
    return [UsageRow(str(t), str(m), str(d), int(r), int(i), int(o), usd(int(c))) for t, m, d, r, i, o, c in raw]


class _Ledger(ABC):
    """What both back ends share: recording a call and the two reads, on top of each one's way of
    running work in a transaction and of naming itself in messages."""

    _driver_error: type[Exception]
    _param = "?"

    @abstractmethod
    def _where(self) -> str:
        """The ledger as messages name it (never with a password)."""

    @abstractmethod
    def _run(self, work: Callable[[Any], T], *, write: bool) -> T:
        """``work(cursor)``, under this ledger's lock; in one transaction whenever it writes."""

    def _guarded(self, what: str, work: Callable[[Any], T], *, write: bool) -> T:
        try:
            return self._run(work, write=write)
        except self._driver_error as exc:
            raise LedgerError(f"cannot {what} {self._where()}: {_one_line(exc)}") from exc

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._param)

    def record(self, usage: Usage) -> None:
        request, day = _record_params(usage)

        def write(cur: Any) -> None:
            if cur.execute(self._sql(INSERT_REQUEST), request).rowcount == 1:
                cur.execute(self._sql(ADD_TO_DAY), day)

        self._guarded("record usage in", write, write=True)

    def _query(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        return self._guarded(
            "read the ledger", lambda cur: list(cur.execute(self._sql(sql), params).fetchall()), write=False
        )

    def month_spend(self, tenant: str, month: str) -> Decimal:
        return usd(self._query(MONTH_SPEND, (tenant, check_month(month)))[0][0])

    def usage(self, *, month: str | None = None, tenant: str | None = None) -> list[UsageRow]:
        return _rows(self._query(*_usage_query(month, tenant)))


# --- SQLite -----------------------------------------------------------------------------------------


class SqliteLedger(_Ledger):
    """The ledger in one SQLite file; safe to share between threads and between processes on one host."""

    _driver_error = sqlite3.Error

    def __init__(self, path: Path, *, create: bool = True) -> None:
        if not create and not path.is_file():
            raise LedgerError(f"no ledger at {path}")
        self.path = path
        self._lock = threading.Lock()
        try:
            # Autocommit mode: every transaction is an explicit BEGIN IMMEDIATE ... COMMIT below.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if create:
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            if create:
                with self._transaction() as db:
                    for statement in SCHEMA:
                        db.execute(statement)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the ledger {path}: {_one_line(exc)}") from exc

    def _where(self) -> str:
        return str(self.path)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _run(self, work: Callable[[Any], T], *, write: bool) -> T:
        with self._lock:
            if not write:  # one statement in autocommit mode: no write lock taken
                return work(self._db)
            with self._transaction() as db:
                return work(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --- PostgreSQL -------------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    """A driver's message on one line (libpq's span several, with hints)."""
    return " ".join(str(exc).split())


class PostgresLedger(_Ledger):
    """The ledger in PostgreSQL (psycopg 3). A dropped connection is reopened once per call: every
    statement is safe to repeat (a record that did commit is ignored the second time)."""

    _param = "%s"

    def __init__(self, url: str, *, create: bool = True) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise LedgerError("a postgresql:// ledger needs psycopg 3 (pip install 'psycopg[binary]')") from exc
        self._psycopg = psycopg
        self._driver_error = psycopg.Error
        self._url = url
        self._lock = threading.Lock()
        self._conn: Any = None
        try:
            self._connect()
            if create:
                # Creating the schema twice at once (two gateway workers) may collide in the catalog.
                statements = ("SELECT pg_advisory_xact_lock(72120001)", *SCHEMA)
                self._run(lambda cur: [cur.execute(s) for s in statements], write=True)
        except psycopg.Error as exc:
            raise LedgerError(f"cannot open the ledger {self._where()}: {_one_line(exc)}") from exc

    def _where(self) -> str:
        """The URL without its password."""
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self._url)

    def _connect(self) -> None:
        self._conn = self._psycopg.connect(self._url, connect_timeout=10)

    def _run(self, work: Callable[[Any], T], *, write: bool) -> T:
        """In one transaction (reads too), retried once on a fresh connection when the old one died."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._connect()
                    with self._conn.transaction(), self._conn.cursor() as cur:
                        return work(cur)
                except self._psycopg.OperationalError:
                    if attempt == 2 or (self._conn is not None and not self._conn.closed):
                        raise
            raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()


def open_ledger(url: str, *, create: bool = True) -> Ledger:
    """The ledger at ``url``: ``sqlite:////absolute/path.sqlite`` or ``postgresql://user:pass@host/db``.

    With ``create`` (the gateway) the file and schema are made when missing; without it (reports) a
    missing SQLite file is a LedgerError rather than a new, empty ledger.
    """
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path.startswith("/"):
            raise LedgerError(f"a SQLite ledger URL needs an absolute path (sqlite:////abs/path.sqlite), not {url!r}")
        return SqliteLedger(Path(path), create=create)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresLedger(url, create=create)
    scheme = url.partition("://")[0] if "://" in url else "without a scheme"
    raise LedgerError(f"unsupported ledger URL ({scheme}): use sqlite:////abs/path.sqlite or postgresql://...")
