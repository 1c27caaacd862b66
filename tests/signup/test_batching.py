"""200 concurrent signups on one shard with a 2 s update: a few writes of tenants.yaml, at most 10 updates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2 as httpx

from harness.fake_runner import FakeRunner, fake_token
from harness.signup_service import serving, wait_for
from signup.app import create_app
from signup.config import ServiceConfig
from signup.service import SignupService
from signup.store import SqliteJobStore
from tenants.load import load_fleet

from .conftest import with_config

SIGNUPS = 200
UPDATE_S = 2.0
EXAMPLE_TENANTS = 6


def test_200_concurrent_signups_share_a_few_writes_and_at_most_10_updates(
    config: ServiceConfig, store: SqliteJobStore, fleet_file: Path
) -> None:
    runner = FakeRunner(fleet_file, duration_s=UPDATE_S)
    app = create_app(with_config(config, batch_window_s=0.2, batch_max_wait_s=5.0), store, runner)
    service: SignupService = app.state.service

    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response]]:
        async with serving(app) as client:

            async def signup(i: int) -> httpx.Response:
                body = {"plan": "basic", "model_provider": "kimi"}
                if i % 2 == 0:
                    body["id"] = f"batch-{i:03d}"
                return await client.post("/v1/tenants", json=body)

            posted = await asyncio.gather(*(signup(i) for i in range(SIGNUPS)))
            ids = [response.json()["id"] for response in posted if response.status_code == 202]
            assert len(ids) == SIGNUPS, [r.text for r in posted if r.status_code != 202][:3]
            await asyncio.to_thread(wait_for, store, ids, 40.0)
            reads = await asyncio.gather(*(client.get(f"/v1/jobs/{job_id}") for job_id in ids))
        return list(posted), list(reads)

    posted, reads = asyncio.run(scenario())

    jobs = [store.get(response.json()["id"]) for response in posted]
    assert all(job is not None and job.state == "succeeded" for job in jobs)
    assert len(runner.updates) <= 10, f"{len(runner.updates)} updates"
    assert len({job.update_id for job in jobs if job is not None}) == len(runner.updates)
    assert runner.overlaps == 0

    # Every tenant is in the file, and was in the file when the update that reported it ran.
    fleet_ids = {t.id for t in load_fleet(fleet_file).tenants}
    by_update = {u.started: u.tenants for u in runner.updates}
    assert len(by_update) == len(runner.updates)
    assert len(fleet_ids) == EXAMPLE_TENANTS + SIGNUPS
    assert {job.tenant_id for job in jobs if job is not None} <= fleet_ids

    # The edits were written by far fewer writes than requests (group commit).
    assert sum(service.edits.batches) == SIGNUPS
    assert len(service.edits.batches) <= SIGNUPS // 4, service.edits.batches

    # Each creator gets its own token, once.
    for read, job in zip(reads, jobs, strict=True):
        assert job is not None and read.json()["gateway_token"] == fake_token(job.tenant_id)
