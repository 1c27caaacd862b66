"""Fixtures of the signup service tests: a tmp copy of tenants.yaml, the service config, a store, the fake runner."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from harness.fake_runner import FakeRunner
from harness.signup_service import AUTH, TOKEN, write_example_fleet
from harness.waiting import wait_until
from signup.app import create_app
from signup.config import ServiceConfig
from signup.store import SqliteJobStore

ROOT = Path(__file__).resolve().parents[2]
BILLING_TOKEN = "billing-token-0123456789abcdef"
BILLING = {"Authorization": f"Bearer {BILLING_TOKEN}"}


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    """The example fleet, with a local Docker host large enough for a few hundred basic tenants."""
    return write_example_fleet(tmp_path / "fleet" / "tenants.yaml")


@pytest.fixture
def config(tmp_path: Path, fleet_file: Path) -> ServiceConfig:
    return ServiceConfig(
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
def store(config: ServiceConfig) -> Iterator[SqliteJobStore]:
    store = SqliteJobStore(config.db_path)
    yield store
    store.close()


@pytest.fixture
def app(config: ServiceConfig, store: SqliteJobStore, runner: FakeRunner) -> FastAPI:
    return create_app(config, store, runner)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client


def with_config(config: ServiceConfig, **changes: Any) -> ServiceConfig:
    return replace(config, **changes)


def eventually(done: Callable[[], bool], failure: str = "condition not reached in time", timeout: float = 20.0) -> None:
    """Wait until ``done()`` holds; fail with ``failure`` after ``timeout`` seconds."""
    try:
        wait_until(done, timeout, interval_s=0.005)
    except TimeoutError:
        raise AssertionError(failure) from None


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
