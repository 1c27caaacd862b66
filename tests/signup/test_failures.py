"""Failed updates, runner crashes and stacks busy with someone else's update."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pulumi.automation import CommandResult, ConcurrentUpdateError

from harness.fake_runner import FakeRunner, fake_token
from signup.runner import UpdateError
from tenants.load import load_fleet

from .conftest import poll_job

BASIC = {"plan": "basic", "model_provider": "kimi"}


def busy() -> ConcurrentUpdateError:
    return ConcurrentUpdateError(
        CommandResult(stdout="", stderr="error: the stack is currently locked by 1 lock(s)", code=255)
    )


def test_a_failed_update_fails_its_jobs_and_keeps_the_file_valid(
    client: TestClient, runner: FakeRunner, fleet_file: Path
) -> None:
    runner.fail_next(UpdateError("docker: cannot connect to unix:///var/run/docker.sock"))
    job = client.post("/v1/tenants", json={**BASIC, "id": "unlucky"}).json()
    done = poll_job(client, job["id"])
    assert done["state"] == "failed"
    assert done["error"] == {
        "code": "update_failed",
        "message": "docker: cannot connect to unix:///var/run/docker.sock",
    }
    assert done["gateway_token"] is None
    # The file is still valid and still declares the tenant: the desired state stays reviewed and in git.
    assert load_fleet(fleet_file).tenant("unlucky").state == "active"
    tenant = client.get("/v1/tenants/unlucky").json()
    assert tenant["deployment"]["state"] == "failed"

    # A retry is a new job for the same tenant; the creator gets the token from it.
    retry = client.post(f"/v1/jobs/{job['id']}/retry")
    assert retry.status_code == 202, retry.text
    assert retry.json()["kind"] == "create" and retry.json()["tenant_id"] == "unlucky"
    retried = poll_job(client, retry.json()["id"])
    assert retried["state"] == "succeeded" and retried["gateway_token"] == fake_token("unlucky")
    assert [t.id for t in load_fleet(fleet_file).tenants].count("unlucky") == 1

    again = client.post(f"/v1/jobs/{retry.json()['id']}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_not_failed"


def test_a_crashing_runner_fails_the_batch_without_leaking_its_text(client: TestClient, runner: FakeRunner) -> None:
    runner.fail_next(RuntimeError("token=sk-live-secret in a stack trace"))
    job = client.post("/v1/tenants", json={**BASIC, "id": "crashy"}).json()
    done = poll_job(client, job["id"])
    assert done["state"] == "failed"
    assert "sk-live-secret" not in str(done)
    assert done["error"]["message"] == "the update could not run (RuntimeError); see the server log"
    # The worker survived: the next signup deploys.
    nxt = client.post("/v1/tenants", json={**BASIC, "id": "steady"}).json()
    assert poll_job(client, nxt["id"])["state"] == "succeeded"


def test_a_concurrent_update_is_retried_with_backoff(client: TestClient, runner: FakeRunner) -> None:
    runner.fail_next(busy(), busy())
    job = client.post("/v1/tenants", json={**BASIC, "id": "patient"}).json()
    done = poll_job(client, job["id"])
    assert done["state"] == "succeeded" and done["gateway_token"] == fake_token("patient")
    assert [u.outcome for u in runner.updates] == ["failed", "failed", "succeeded"]
    assert done["attempts"] == 1  # one claim: the retries are inside one update of the batch


def test_a_stack_that_stays_busy_fails_the_jobs(client: TestClient, runner: FakeRunner) -> None:
    runner.fail_next(*(busy() for _ in range(4)))  # busy_retries is 3: 4 tries in all
    job = client.post("/v1/tenants", json={**BASIC, "id": "blocked"}).json()
    done = poll_job(client, job["id"])
    assert done["state"] == "failed"
    assert done["error"]["message"] == "stack 'default' stayed busy with another update after 3 retries"
    assert len(runner.updates) == 4
