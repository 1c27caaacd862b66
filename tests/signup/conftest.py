"""Fixtures of the signup service tests: a tmp copy of tenants.yaml, settings, a store, the fake runner."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from signup.app import create_app
from signup.settings import Settings
from signup.store import Job, SqliteJobStore

from .fakes import FakeRunner

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "operator-token-0123456789abcdef"
BILLING_TOKEN = "billing-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BILLING = {"Authorization": f"Bearer {BILLING_TOKEN}"}

SMALL_CAPACITY = "      cpus: 8\n      memory_gib: 32\n      networks: 30"
LARGE_CAPACITY = "      cpus: 128\n      memory_gib: 1024\n      networks: 4096"


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    """The example fleet, with a local Docker host large enough for a few hundred basic tenants."""
    text = (ROOT / "tenants.yaml").read_text(encoding="utf-8")
    assert SMALL_CAPACITY in text, "tenants.yaml's local capacity changed; update the signup test fixture"
    path = tmp_path / "fleet" / "tenants.yaml"
    path.parent.mkdir()
    path.write_text(text.replace(SMALL_CAPACITY, LARGE_CAPACITY), encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, fleet_file: Path) -> Settings:
    return Settings(
        tokens={"operator": TOKEN, "billing": BILLING_TOKEN},
        project_dir=ROOT,
        fleet_file=fleet_file,
        db_path=tmp_path / "state" / "jobs.sqlite3",
        rate_limit_rps=10_000,
        rate_limit_burst=10_000,
        batch_window_s=0.02,
        busy_retries=3,
        busy_backoff_s=0.01,
        lock_timeout_s=30.0,
    )


@pytest.fixture
def runner(fleet_file: Path) -> FakeRunner:
    return FakeRunner(fleet_file, duration_s=0.05)


@pytest.fixture
def store(settings: Settings) -> Iterator[SqliteJobStore]:
    store = SqliteJobStore(settings.db_path)
    yield store
    store.close()


@pytest.fixture
def app(settings: Settings, store: SqliteJobStore, runner: FakeRunner) -> FastAPI:
    return create_app(settings, store, runner)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


@asynccontextmanager
async def serving(app: FastAPI, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (workers) running, behind an async client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://signup.test", headers=AUTH if headers is None else headers
        ) as client:
            yield client


def wait_for(store: SqliteJobStore, job_ids: list[str], timeout: float = 20.0) -> list[Job]:
    """Wait until every job is finished; the jobs, in the given order."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = [store.get(job_id) for job_id in job_ids]
        if all(job is not None and job.done for job in jobs):
            return [job for job in jobs if job is not None]
        if time.monotonic() > deadline:
            states = sorted({(job.state if job else "missing") for job in jobs})
            raise AssertionError(f"jobs still unfinished after {timeout} s: states {states}")
        time.sleep(0.02)


def poll_job(client: TestClient, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """GET the job until it is finished; the finished body (with the token on its first read)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["state"] in ("succeeded", "failed"):
            return body
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} unfinished after {timeout} s")
