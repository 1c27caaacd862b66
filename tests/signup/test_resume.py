"""A crash in the middle of a job, and the next start: nothing acknowledged is lost."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harness.fake_runner import FakeRunner, SimulatedCrash, fake_token
from harness.signup_service import AUTH, wait_for
from signup.app import create_app
from signup.config import ServiceConfig
from signup.store import Job, SqliteJobStore
from tenants.edit import add_tenant
from tenants.load import load_fleet

from .conftest import eventually, poll_job

BASIC = {"plan": "basic", "model_provider": "kimi"}


@pytest.fixture
def quiet_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A simulated crash ends a worker thread; that is the point, not a test failure."""
    original = threading.excepthook

    def hook(args: Any) -> None:
        if args.exc_type is not SimulatedCrash:
            original(args)

    monkeypatch.setattr(threading, "excepthook", hook)


@pytest.mark.usefixtures("quiet_crashes")
def test_jobs_of_a_crashed_process_finish_after_a_restart(config: ServiceConfig, fleet_file: Path) -> None:
    first_runner = FakeRunner(fleet_file)
    first_runner.gate = threading.Event()
    first_runner.fail_next(SimulatedCrash())
    first_store = SqliteJobStore(config.db_path)
    with TestClient(create_app(config, first_store, first_runner), headers=AUTH) as client:
        running = client.post("/v1/tenants", json={**BASIC, "id": "first"}).json()
        eventually(lambda: state_of(first_store, running["id"]) == "running")
        queued = [
            client.post("/v1/tenants", json={**BASIC, "id": "second"}).json(),
            client.post("/v1/tenants/globex/suspend").json(),
        ]
        first_runner.gate.set()  # the update "dies" with the process
        eventually(lambda: len(first_runner.updates) == 1)
    first_store.close()
    assert all(update.outcome == "failed" for update in first_runner.updates)

    second_store = SqliteJobStore(config.db_path)
    states = {job.id: job.state for job in second_store.unfinished()}
    assert states == {running["id"]: "running", queued[0]["id"]: "queued", queued[1]["id"]: "queued"}
    second_runner = FakeRunner(fleet_file)
    with TestClient(create_app(config, second_store, second_runner), headers=AUTH) as client:
        jobs = wait_for(second_store, [running["id"], queued[0]["id"], queued[1]["id"]])
        assert [job.state for job in jobs] == ["succeeded"] * 3
        assert len(second_runner.updates) == 1  # the three were one batch
        assert jobs[0].attempts == 2
        # The new process has no token in memory; it reads it back from the stack and checks its digest.
        assert client.get(f"/v1/jobs/{running['id']}").json()["gateway_token"] == fake_token("first")
    second_store.close()
    fleet = load_fleet(fleet_file)
    assert {"first", "second"} <= {t.id for t in fleet.tenants}
    assert fleet.tenant("globex").state == "suspended"


def created_before_a_restart(config: ServiceConfig, fleet_file: Path, tenant_id: str) -> dict[str, Any]:
    """A create job that succeeded in a service that then stopped, its token never read."""
    store = SqliteJobStore(config.db_path)
    with TestClient(create_app(config, store, FakeRunner(fleet_file)), headers=AUTH) as client:
        job: dict[str, Any] = client.post("/v1/tenants", json={**BASIC, "id": tenant_id}).json()
        wait_for(store, [job["id"]])
    store.close()
    return job


def test_a_token_not_yet_delivered_survives_a_restart(config: ServiceConfig, fleet_file: Path) -> None:
    job = created_before_a_restart(config, fleet_file, "patient")

    store = SqliteJobStore(config.db_path)
    runner = FakeRunner(fleet_file)
    with TestClient(create_app(config, store, runner), headers=AUTH) as client:
        body = client.get(f"/v1/jobs/{job['id']}").json()
        assert body["gateway_token"] == fake_token("patient")
        assert client.get(f"/v1/jobs/{job['id']}").json()["gateway_token"] is None
    assert runner.updates == []  # reading the token back ran no update
    store.close()


def test_a_restart_never_hands_out_a_rotated_token_as_the_created_one(config: ServiceConfig, fleet_file: Path) -> None:
    job = created_before_a_restart(config, fleet_file, "rotated")
    fleet_file.write_text(fleet_file.read_text().replace("  - id: rotated\n", "  - id: rotated\n    rotation: 1\n"))

    store = SqliteJobStore(config.db_path)
    with TestClient(create_app(config, store, FakeRunner(fleet_file)), headers=AUTH) as client:
        body = client.get(f"/v1/jobs/{job['id']}").json()
        assert body["gateway_token"] is None and body["token_delivered"] is False
    store.close()


def test_pending_jobs_are_queued_when_their_edit_is_in_the_file_and_dropped_otherwise(
    config: ServiceConfig, store: SqliteJobStore, runner: FakeRunner
) -> None:
    # A crash after the edit but before the 202: the change is in the file, so it is deployed.
    written = store.insert(Job(id="j-written", kind="suspend", client="operator", request_hash="h", tenant_id="acme"))
    store.update_pending(written.id, tenant_id="acme", shard="default", stack="default")
    fleet_text = config.fleet_file.read_text()
    config.fleet_file.write_text(fleet_text.replace("  - id: acme\n", "  - id: acme\n    state: suspended\n"))
    # A crash before the edit: never acknowledged, never written; dropped so a retry starts afresh.
    lost = store.insert(
        Job(id="j-lost", kind="create", client="operator", request_hash="h", idempotency_key="k1", tenant_id="ghost")
    )
    store.update_pending(lost.id, tenant_id="ghost", shard="default", stack="default")

    # A crash while creating a tenant whose id someone else holds: that tenant is not this job's.
    taken = store.insert(
        Job(id="j-taken", kind="create", client="operator", request_hash="h", request={"id": "acme", "plan": "pro"})
    )
    store.update_pending(taken.id, tenant_id="acme", shard="default", stack="default")
    # A crash right after a new tenant was written: deployed, and its creator gets the token.
    added = store.insert(
        Job(id="j-added", kind="create", client="operator", request_hash="h", request={"id": "fresh", "plan": "basic"})
    )
    store.update_pending(added.id, tenant_id="fresh", shard="default", stack="default")
    add_tenant(config.fleet_file, {"id": "fresh", "plan": "basic", "model_provider": "kimi"})

    with TestClient(create_app(config, store, runner), headers=AUTH) as client:
        assert [job.state for job in wait_for(store, ["j-written", "j-added"])] == ["succeeded", "succeeded"]
        assert store.get("j-lost") is None and store.get("j-taken") is None
        assert client.get("/v1/jobs/j-added").json()["gateway_token"] == fake_token("fresh")
        retried = client.post("/v1/tenants", json={**BASIC, "id": "ghost"}, headers={**AUTH, "Idempotency-Key": "k1"})
        assert retried.status_code == 202 and retried.json()["id"] != "j-lost"
        assert poll_job(client, retried.json()["id"])["state"] == "succeeded"
    results = {(e.job_id, e.result) for e in store.audit_log()}
    assert {
        ("j-written", "recovered"),
        ("j-added", "recovered"),
        ("j-lost", "dropped"),
        ("j-taken", "dropped"),
    } <= results


def state_of(store: SqliteJobStore, job_id: str) -> str | None:
    job = store.get(job_id)
    return None if job is None else job.state
