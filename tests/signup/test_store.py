"""The SQLite job store: idempotency keys, atomic batches, one-time token delivery, durability settings."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from signup.store import SCHEMA, Completion, DuplicateKeyError, Job, SqliteJobStore


def job(job_id: str, *, key: str | None = None, client: str = "operator", stack: str = "default") -> Job:
    return Job(id=job_id, kind="create", client=client, request_hash="h", idempotency_key=key, stack=stack)


def queue(store: SqliteJobStore, job_id: str, stack: str = "default") -> None:
    store.insert(job(job_id, stack=stack))
    store.update_pending(job_id, tenant_id=f"tenant-{job_id}", shard=stack, stack=stack)
    store.mark_queued(job_id)


def test_an_idempotency_key_is_unique_per_client(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    store.insert(job("j-1", key="k"))
    with pytest.raises(DuplicateKeyError):
        store.insert(job("j-2", key="k"))
    store.insert(job("j-3", key="k", client="billing"))
    store.insert(job("j-4"))
    store.insert(job("j-5"))  # no key: no constraint
    found = store.by_key("operator", "k")
    assert found is not None and found.id == "j-1"


def test_claims_are_atomic_batches_per_stack(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    for i in range(50):
        queue(store, f"j-{i}", stack="default" if i % 5 else "other")
    claimed: list[list[Job]] = []

    def claim(n: int) -> None:
        claimed.append(store.claim("default", f"u-{n}"))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [j.id for batch in claimed for j in batch]
    assert len(ids) == len(set(ids)) == 40
    assert sum(1 for batch in claimed if batch) == 1
    assert store.queued_stacks() == ["other"]
    assert all(j.state == "running" and j.attempts == 1 for batch in claimed for j in batch)


def test_complete_records_outcomes_and_the_token_is_taken_once(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    queue(store, "j-ok")
    queue(store, "j-bad")
    store.claim("default", "u-1")
    store.complete(
        [
            Completion("j-ok", "succeeded", url="http://x.localhost:8080", token_sha256="ab" * 32),
            Completion("j-bad", "failed", error="boom"),
        ]
    )
    ok, bad = store.get("j-ok"), store.get("j-bad")
    assert ok is not None and (ok.state, ok.token_state, ok.url) == (
        "succeeded",
        "pending",
        "http://x.localhost:8080",
    )
    assert bad is not None and (bad.state, bad.error, bad.token_state) == ("failed", "boom", "none")
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.take_token("j-ok"))) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 9 + [True]
    assert not store.take_token("j-bad")


def test_a_completion_and_its_audit_entry_are_one_write(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    queue(store, "j-ok")
    queue(store, "j-bad")
    store.claim("default", "u-1")
    store.complete(
        [
            Completion("j-ok", "succeeded", detail="update u-1: update succeeded"),
            Completion("j-bad", "failed", error="boom", detail="update u-1: boom"),
        ]
    )
    entries = {(e.job_id, e.actor, e.action, e.tenant_id, e.result, e.detail) for e in store.audit_log()}
    assert entries == {
        ("j-ok", "worker", "deploy create", "tenant-j-ok", "succeeded", "update u-1: update succeeded"),
        ("j-bad", "worker", "deploy create", "tenant-j-bad", "failed", "update u-1: boom"),
    }


def test_running_jobs_are_queued_again_after_a_restart(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    queue(store, "j-1")
    store.claim("default", "u-1")
    store.close()
    store = SqliteJobStore(tmp_path / "jobs.db")
    assert store.requeue_running() == 1
    again = store.claim("default", "u-2")
    assert [(j.id, j.attempts, j.update_id) for j in again] == [("j-1", 2, "u-2")]


def test_the_database_is_durable_and_refuses_bad_states(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    raw = sqlite3.connect(tmp_path / "jobs.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute(
            "INSERT INTO jobs (id, kind, client, request_hash, request, state, created_at, updated_at) "
            "VALUES ('x', 'create', 'c', 'h', '{}', 'exploded', 0, 0)"
        )
    raw.close()
    store.audit("operator", "create", "acme", job_id="j-1", result="accepted", detail="shard default")
    entries = store.audit_log(tenant_id="acme")
    assert [(e.actor, e.action, e.result) for e in entries] == [("operator", "create", "accepted")]


def test_a_database_that_stored_endpoints_keeps_its_jobs_urls(tmp_path: Path) -> None:
    old_schema = SCHEMA.replace("\n    url             TEXT,", "\n    endpoint        TEXT,")
    assert old_schema != SCHEMA
    raw = sqlite3.connect(tmp_path / "jobs.db")
    raw.executescript(old_schema)
    raw.execute(
        "INSERT INTO jobs (id, kind, client, request_hash, request, tenant_id, shard, stack, state, endpoint, "
        "created_at, updated_at) VALUES ('j-old', 'create', 'operator', 'h', '{}', 'acme', 'default', 'dev', "
        "'succeeded', 'http://acme.localhost:8080', 1, 1)"
    )
    raw.commit()
    raw.close()

    store = SqliteJobStore(tmp_path / "jobs.db")
    old = store.get("j-old")
    assert old is not None and (old.state, old.url) == ("succeeded", "http://acme.localhost:8080")
    latest = store.latest_for_tenant("acme", succeeded=True)
    assert latest is not None and latest.url == "http://acme.localhost:8080"
    queue(store, "j-new")
    store.claim("default", "u-1")
    store.complete([Completion("j-new", "succeeded", url="http://new.localhost:8080")])
    new = store.get("j-new")
    assert new is not None and new.url == "http://new.localhost:8080"
    store.close()

    reopened = SqliteJobStore(tmp_path / "jobs.db")  # a migrated database opens as it is
    assert [job.url for job in (reopened.get("j-old"), reopened.get("j-new")) if job] == [
        "http://acme.localhost:8080",
        "http://new.localhost:8080",
    ]
    reopened.close()
