"""Jobs and the audit log: a small ``JobStore`` interface and its SQLite implementation.

A job is one requested change of one tenant. Its life:

``pending``  the request holds its idempotency key; the fleet file is being edited. Never acknowledged:
             a restart finds out whether the edit reached the file and queues or drops the job.
``queued``   the edit is in tenants.yaml and the caller has its 202; waiting for its stack's next update.
``running``  part of the update running now (``update_id`` names the batch).
``succeeded`` / ``failed``  the update finished; ``error`` holds a one-line summary of a failure.

Every write is one transaction; the database runs in WAL mode with full fsync, so a job acknowledged
with 202 survives a crash. Another implementation (PostgreSQL) only needs the ``JobStore`` methods.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol, get_args

from tenants.contract import FINISHED_STATES, JOB_KINDS, JOB_STATES, UNFINISHED_STATES, FinishedState, JobKind, JobState

TokenState = Literal["none", "pending", "delivered"]
TOKEN_STATES: Final[tuple[TokenState, ...]] = get_args(TokenState)


class DuplicateKeyError(Exception):
    """Another job already holds this client's idempotency key."""


@dataclass(frozen=True)
class Job:
    id: str
    kind: JobKind
    client: str
    request_hash: str
    request: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    tenant_id: str = ""
    shard: str = ""
    stack: str = ""
    state: JobState = "pending"
    error: str | None = None
    url: str | None = None
    token_state: TokenState = "none"
    token_sha256: str | None = None
    attempts: int = 0
    update_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.state in FINISHED_STATES


@dataclass(frozen=True)
class Completion:
    """How one job of a finished update ended."""

    job_id: str
    state: FinishedState
    error: str | None = None
    url: str | None = None
    token_sha256: str | None = None
    detail: str = ""  # the update's summary, for the audit entry recorded with the completion


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    tenant_id: str
    job_id: str | None
    result: str
    detail: str


class JobStore(Protocol):
    """What the service needs from a job store."""

    def insert(self, job: Job) -> Job:
        """Store a new job; raise DuplicateKeyError when (client, idempotency_key) is taken."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def by_key(self, client: str, key: str) -> Job | None: ...

    def delete(self, job_id: str) -> None:
        """Drop a job that was never acknowledged (its edit was refused or never happened)."""
        ...

    def update_pending(self, job_id: str, *, tenant_id: str, shard: str, stack: str) -> None: ...

    def mark_queued(self, job_id: str) -> Job: ...

    def claim(self, stack: str, update_id: str) -> list[Job]:
        """Atomically move every queued job of a stack to running, as one batch."""
        ...

    def complete(self, completions: Sequence[Completion]) -> None:
        """Finish jobs and record each one's ``deploy <kind>`` audit entry in the same transaction, so
        nobody can see a finished job whose deploy is not yet in the audit log."""
        ...

    def requeue_running(self) -> int:
        """After a restart: running jobs lost their update; queue them again."""
        ...

    def unfinished(self) -> list[Job]: ...

    def queued_stacks(self) -> list[str]: ...

    def take_token(self, job_id: str) -> bool:
        """Mark a job's token delivered; True only for the one caller that changed it."""
        ...

    def latest_for_tenant(self, tenant_id: str, *, succeeded: bool = False) -> Job | None: ...

    def audit(
        self, actor: str, action: str, tenant_id: str, *, job_id: str | None, result: str, detail: str = ""
    ) -> None:
        """Record who did what to which tenant, and how it ended."""
        ...

    def audit_log(self, *, tenant_id: str | None = None, limit: int = 100) -> list[AuditEntry]: ...

    def close(self) -> None: ...


def _one_of(values: Sequence[str]) -> str:
    """A SQL list of string literals, for IN (...): the values are the contract's own names."""
    return ", ".join(f"'{value}'" for value in values)


SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ({_one_of(JOB_KINDS)})),
    client          TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash    TEXT NOT NULL,
    request         TEXT NOT NULL,
    tenant_id       TEXT NOT NULL DEFAULT '',
    shard           TEXT NOT NULL DEFAULT '',
    stack           TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL CHECK (state IN ({_one_of(JOB_STATES)})),
    error           TEXT,
    url             TEXT,
    token_state     TEXT NOT NULL DEFAULT 'none' CHECK (token_state IN ({_one_of(TOKEN_STATES)})),
    token_sha256    TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    update_id       TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    started_at      REAL,
    finished_at     REAL,
    UNIQUE (client, idempotency_key)
);
CREATE INDEX IF NOT EXISTS jobs_by_stack_state ON jobs (stack, state);
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant_id, created_at);
CREATE TABLE IF NOT EXISTS audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        REAL NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    job_id    TEXT,
    result    TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_by_tenant ON audit (tenant_id, at);
"""

_JOB_COLUMNS = (
    "id, kind, client, idempotency_key, request_hash, request, tenant_id, shard, stack, state, error, url, "
    "token_state, token_sha256, attempts, update_id, created_at, updated_at, started_at, finished_at"
)


class SqliteJobStore:
    """JobStore on one SQLite file (WAL, full fsync); safe to share between threads."""

    def __init__(self, path: str | Path, *, clock: Any = time.time) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        with self._tx() as db:
            # executescript would commit on its own; run the statements inside this transaction instead
            for statement in filter(None, (s.strip() for s in SCHEMA.split(";"))):
                db.execute(statement)
            _migrate(db)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: writers never interleave, readers see only committed states."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, args: Sequence[Any]) -> Job | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else _job(row)

    def insert(self, job: Job) -> Job:
        now = self._clock()
        stored = Job(**{**job.__dict__, "created_at": job.created_at or now, "updated_at": now})
        try:
            with self._tx() as db:
                db.execute(
                    f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES ({', '.join('?' * 20)})",
                    _row(stored),
                )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) and "idempotency_key" in str(exc):
                raise DuplicateKeyError(job.idempotency_key) from None
            raise
        return stored

    def get(self, job_id: str) -> Job | None:
        return self._one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))

    def by_key(self, client: str, key: str) -> Job | None:
        return self._one(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE client = ? AND idempotency_key = ?",
            (client, key),
        )

    def delete(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM jobs WHERE id = ? AND state = 'pending'", (job_id,))

    def update_pending(self, job_id: str, *, tenant_id: str, shard: str, stack: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET tenant_id = ?, shard = ?, stack = ?, updated_at = ? "
                "WHERE id = ? AND state = 'pending'",
                (tenant_id, shard, stack, self._clock(), job_id),
            )

    def mark_queued(self, job_id: str) -> Job:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = 'queued', updated_at = ? WHERE id = ? AND state = 'pending'",
                (self._clock(), job_id),
            )
        job = self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def claim(self, stack: str, update_id: str) -> list[Job]:
        now = self._clock()
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state = 'running', update_id = ?, started_at = ?, updated_at = ?, "
                "attempts = attempts + 1 WHERE stack = ? AND state = 'queued'",
                (update_id, now, now, stack),
            )
            rows = db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE update_id = ? AND state = 'running' ORDER BY created_at",
                (update_id,),
            ).fetchall()
        return [_job(row) for row in rows]

    def complete(self, completions: Sequence[Completion]) -> None:
        now = self._clock()
        with self._tx() as db:
            for done in completions:
                db.execute(
                    "UPDATE jobs SET state = ?, error = ?, url = COALESCE(?, url), token_sha256 = ?, "
                    "token_state = ?, finished_at = ?, updated_at = ? WHERE id = ? AND state = 'running'",
                    (
                        done.state,
                        done.error,
                        done.url,
                        done.token_sha256,
                        "pending" if done.token_sha256 else "none",
                        now,
                        now,
                        done.job_id,
                    ),
                )
                db.execute(
                    "INSERT INTO audit (at, actor, action, tenant_id, job_id, result, detail) "
                    "SELECT ?, 'worker', 'deploy ' || kind, tenant_id, id, ?, ? FROM jobs WHERE id = ?",
                    (now, done.state, done.detail, done.job_id),
                )

    def requeue_running(self) -> int:
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = 'queued', update_id = NULL, updated_at = ? WHERE state = 'running'",
                (self._clock(),),
            )
        return cursor.rowcount

    def unfinished(self) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN ({_one_of(UNFINISHED_STATES)}) ORDER BY created_at"
            ).fetchall()
        return [_job(row) for row in rows]

    def queued_stacks(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT stack FROM jobs WHERE state = 'queued' ORDER BY stack").fetchall()
        return [row[0] for row in rows]

    def take_token(self, job_id: str) -> bool:
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE jobs SET token_state = 'delivered', updated_at = ? WHERE id = ? AND token_state = 'pending'",
                (self._clock(), job_id),
            )
        return cursor.rowcount == 1

    def latest_for_tenant(self, tenant_id: str, *, succeeded: bool = False) -> Job | None:
        extra = " AND state = 'succeeded'" if succeeded else " AND state != 'pending'"
        return self._one(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE tenant_id = ?{extra} ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (tenant_id,),
        )

    def audit(
        self, actor: str, action: str, tenant_id: str, *, job_id: str | None, result: str, detail: str = ""
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO audit (at, actor, action, tenant_id, job_id, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self._clock(), actor, action, tenant_id, job_id, result, detail),
            )

    def audit_log(self, *, tenant_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        sql = "SELECT id, at, actor, action, tenant_id, job_id, result, detail FROM audit"
        args: tuple[Any, ...] = ()
        if tenant_id is not None:
            sql, args = sql + " WHERE tenant_id = ?", (tenant_id,)
        with self._lock:
            rows = self._db.execute(f"{sql} ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [AuditEntry(**dict(row)) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(job: Job) -> tuple[Any, ...]:
    return (
        job.id,
        job.kind,
        job.client,
        job.idempotency_key,
        job.request_hash,
        json.dumps(dict(job.request), sort_keys=True),
        job.tenant_id,
        job.shard,
        job.stack,
        job.state,
        job.error,
        job.url,
        job.token_state,
        job.token_sha256,
        job.attempts,
        job.update_id,
        job.created_at,
        job.updated_at,
        job.started_at,
        job.finished_at,
    )


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a database made by an earlier version to this schema (inside the schema's transaction)."""
    columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
    if "endpoint" in columns:  # a tenant's URL was stored as "endpoint"
        db.execute("ALTER TABLE jobs RENAME COLUMN endpoint TO url")


def _job(row: sqlite3.Row) -> Job:
    data = dict(row)
    data["request"] = json.loads(data["request"])
    return Job(**data)
