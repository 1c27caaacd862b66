"""The life of a signup: declared in tenants.yaml, deployed, reported, token handed over once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from harness.fake_runner import FakeRunner, fake_token
from harness.signup_service import AUTH, wait_for
from signup.store import SqliteJobStore
from tenants.load import load_fleet

from .conftest import BILLING, poll_job

BASIC = {"plan": "basic", "model_provider": "kimi"}


def test_a_signup_is_declared_deployed_and_reported(client: TestClient, fleet_file: Path, runner: FakeRunner) -> None:
    response = client.post("/v1/tenants", json={**BASIC, "id": "newco", "model_provider": "anthropic"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "create" and job["tenant_id"] == "newco" and job["state"] in ("queued", "running")
    assert job["shard"] == "default" and job["stack"] == "default"
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert job["gateway_token"] is None

    # Acknowledged means written: the entry is in the file before any update ran.
    tenant = load_fleet(fleet_file).tenant("newco")
    assert (tenant.plan, tenant.model_provider, tenant.shard, tenant.state) == (
        "basic",
        "anthropic",
        "default",
        "active",
    )
    text = fleet_file.read_text()
    assert text.startswith("# The desired fleet: one isolated OpenClaw gateway per customer.")
    assert "  # Customers on a Kubernetes cluster" in text
    assert "shard:" not in text.split("id: newco")[1]  # the default shard is left to defaults

    done = poll_job(client, job["id"])
    assert done["state"] == "succeeded", done
    assert done["gateway_token"] == fake_token("newco")
    assert done["url"] == "http://newco.localhost:8080"
    assert done["token_delivered"] is True
    assert "newco" in runner.succeeded[-1].tenants

    again = client.get(f"/v1/jobs/{job['id']}").json()
    assert again["gateway_token"] is None and again["token_delivered"] is True

    tenant_view = client.get("/v1/tenants/newco").json()
    assert tenant_view == {
        "id": "newco",
        "state": "active",
        "plan": "basic",
        "model_provider": "anthropic",
        "shard": "default",
        "target": "local",
        "url": "http://newco.localhost:8080",
        "deployment": {
            "job_id": job["id"],
            "kind": "create",
            "state": "succeeded",
            "finished_at": done["finished_at"],
        },
    }


def test_the_token_goes_only_to_the_creating_client(app: FastAPI, store: SqliteJobStore) -> None:
    with TestClient(app, headers=AUTH) as operator, TestClient(app, headers=BILLING) as billing:
        job = billing.post("/v1/tenants", json={**BASIC, "id": "billed"}).json()
        seen_by_operator = poll_job(operator, job["id"])
        assert seen_by_operator["state"] == "succeeded"
        assert seen_by_operator["gateway_token"] is None and seen_by_operator["token_delivered"] is False
        assert billing.get(f"/v1/jobs/{job['id']}").json()["gateway_token"] == fake_token("billed")
        assert billing.get(f"/v1/jobs/{job['id']}").json()["gateway_token"] is None
    row = store.get(job["id"])
    assert row is not None and row.token_state == "delivered"
    assert row.token_sha256 is not None and fake_token("billed") not in repr(row)


def test_concurrent_first_reads_deliver_the_token_exactly_once(client: TestClient, store: SqliteJobStore) -> None:
    job = client.post("/v1/tenants", json={**BASIC, "id": "raced"}).json()
    wait_for(store, [job["id"]])
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: client.get(f"/v1/jobs/{job['id']}").json(), range(16)))
    tokens = [b["gateway_token"] for b in bodies if b["gateway_token"]]
    assert tokens == [fake_token("raced")]


def test_a_generated_id_goes_to_the_shard_of_its_target(client: TestClient, fleet_file: Path) -> None:
    docker = client.post("/v1/tenants", json=BASIC).json()
    k8s = client.post("/v1/tenants", json={**BASIC, "plan": "pro", "target": "cluster-eu"}).json()
    assert docker["tenant_id"].startswith("t") and docker["tenant_id"] != k8s["tenant_id"]
    assert docker["shard"] == "default"
    assert k8s["shard"] == "k8s-example" and k8s["stack"] == "k8s-example"
    fleet = load_fleet(fleet_file)
    assert fleet.tenant(k8s["tenant_id"]).target == "cluster-eu"
    assert poll_job(client, docker["id"])["state"] == "succeeded"
    assert poll_job(client, k8s["id"])["state"] == "succeeded"


def test_suspend_resume_and_offboard(client: TestClient, fleet_file: Path, runner: FakeRunner) -> None:
    for path, state in (("/v1/tenants/acme/suspend", "suspended"), ("/v1/tenants/acme/resume", "active")):
        response = client.post(path)
        assert response.status_code == 202, response.text
        assert load_fleet(fleet_file).tenant("acme").state == state
        assert poll_job(client, response.json()["id"])["state"] == "succeeded"
        assert client.get("/v1/tenants/acme").json()["state"] == state
    response = client.delete("/v1/tenants/acme")
    assert response.status_code == 202 and response.json()["kind"] == "offboard"
    done = poll_job(client, response.json()["id"])
    assert done["state"] == "succeeded" and done["gateway_token"] is None
    tenant = load_fleet(fleet_file).tenant("acme")
    assert tenant.state == "offboarded" and tenant.labels == {"billing-account": "1001"}
    assert client.get("/v1/tenants/acme").json()["deployment"]["kind"] == "offboard"
    assert runner.overlaps == 0


def test_idempotency_key_returns_the_original_job(client: TestClient, fleet_file: Path) -> None:
    headers = {**AUTH, "Idempotency-Key": "signup-42"}
    first = client.post("/v1/tenants", json=BASIC, headers=headers)
    second = client.post("/v1/tenants", json=BASIC, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    generated = first.json()["tenant_id"]
    assert [t.id for t in load_fleet(fleet_file).tenants].count(generated) == 1
    assert len(load_fleet(fleet_file).tenants) == 7

    done = poll_job(client, first.json()["id"])
    replay = client.post("/v1/tenants", json=BASIC, headers=headers)
    assert replay.json()["id"] == done["id"] and replay.json()["state"] == "succeeded"
    assert len(load_fleet(fleet_file).tenants) == 7

    reused = client.post("/v1/tenants", json={**BASIC, "plan": "pro"}, headers=headers)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"

    # Keys belong to their client: another client's same key is another request.
    other = client.post("/v1/tenants", json=BASIC, headers={**BILLING, "Idempotency-Key": "signup-42"})
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]


def test_concurrent_retries_with_one_key_make_one_tenant(client: TestClient, fleet_file: Path) -> None:
    headers = {**AUTH, "Idempotency-Key": "burst-1"}
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda _: client.post("/v1/tenants", json=BASIC, headers=headers), range(12)))
    accepted = {r.json()["id"] for r in responses if r.status_code == 202}
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(accepted) == 1
    assert all(r.json()["error"]["code"] == "request_in_progress" and r.headers["Retry-After"] for r in in_progress)
    assert all(r.status_code in (202, 409) for r in responses)
    assert len(load_fleet(fleet_file).tenants) == 7


def test_idempotent_state_changes(client: TestClient) -> None:
    headers = {**AUTH, "Idempotency-Key": "suspend-acme"}
    first = client.post("/v1/tenants/acme/suspend", headers=headers).json()
    assert client.post("/v1/tenants/acme/suspend", headers=headers).json()["id"] == first["id"]
    # The same key on another tenant is a different request.
    reused = client.post("/v1/tenants/globex/suspend", headers=headers)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"


def test_the_audit_log_says_who_did_what_and_how_it_ended(client: TestClient) -> None:
    job = client.post("/v1/tenants", json={**BASIC, "id": "audited"}).json()
    poll_job(client, job["id"])
    client.post("/v1/tenants", json={**BASIC, "id": "audited"})
    entries = client.get("/v1/audit", params={"tenant_id": "audited"}).json()
    summary = [(e["actor"], e["action"], e["result"]) for e in reversed(entries)]
    assert summary == [
        ("operator", "create", "accepted"),
        ("worker", "deploy create", "succeeded"),
        ("operator", "deliver token", "delivered"),
        ("operator", "create", "refused"),
    ]
    assert entries[0]["detail"].startswith("tenant_exists")
    assert all(e["at"].endswith("+00:00") for e in entries)
    assert fake_token("audited") not in str(entries)
