"""Many writers at once: API signups, API state changes and tenantctl-style edits never lose an update."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from harness.signup_service import wait_for
from signup.store import SqliteJobStore
from tenants.edit import add_tenant, set_state
from tenants.load import load_fleet

EXISTING = ("acme", "globex", "initech", "umbrella")


def test_parallel_edits_all_reach_the_file(client: TestClient, store: SqliteJobStore, fleet_file: Path) -> None:
    rng = random.Random(7)
    work: list[tuple[str, str]] = [("api-create", f"para-{i:02d}") for i in range(30)]
    work += [("api-generated", str(i)) for i in range(10)]
    work += [("cli-create", f"cli-{i:02d}") for i in range(10)]
    work += [("api-suspend", tenant) for tenant in EXISTING[:2]] + [("cli-suspend", tenant) for tenant in EXISTING[2:3]]
    rng.shuffle(work)

    def run(item: tuple[str, str]) -> str | None:
        kind, name = item
        if kind == "api-create":
            response = client.post("/v1/tenants", json={"id": name, "plan": "basic", "model_provider": "openai"})
        elif kind == "api-generated":
            response = client.post("/v1/tenants", json={"plan": "basic", "model_provider": "kimi"})
        elif kind == "api-suspend":
            response = client.post(f"/v1/tenants/{name}/suspend")
        elif kind == "cli-create":  # what `tenantctl add` does, in the same process's threads
            add_tenant(fleet_file, {"id": name, "plan": "basic", "model_provider": "kimi"})
            return None
        else:
            set_state(fleet_file, name, "suspended")
            return None
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(16) as pool:
        job_ids = [job_id for job_id in pool.map(run, work) if job_id is not None]

    jobs = wait_for(store, job_ids)
    assert all(job.state == "succeeded" for job in jobs)
    fleet = load_fleet(fleet_file)
    ids = [t.id for t in fleet.tenants]
    assert len(ids) == len(set(ids)) == 6 + 30 + 10 + 10
    assert {f"para-{i:02d}" for i in range(30)} | {f"cli-{i:02d}" for i in range(10)} <= set(ids)
    assert {job.tenant_id for job in jobs if job.kind == "create"} <= set(ids)
    assert [fleet.tenant(t).state for t in EXISTING[:3]] == ["suspended"] * 3
    text = fleet_file.read_text()
    assert "# Built-in plans (basic, pro, enterprise) apply as they are; override single fields here." in text
    assert text.index("id: acme") < text.index("id: hooli")  # order kept
