"""200 concurrent signups on one shard with a 2 s update: batched into at most 10 updates."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import httpx2 as httpx

from signup.app import create_app
from signup.settings import Settings
from signup.store import SqliteJobStore
from tenants.load import load_fleet

from .conftest import serving, wait_for, with_settings
from .fakes import FakeRunner, fake_token

SIGNUPS = 200
UPDATE_S = 2.0


def test_200_concurrent_signups_take_at_most_10_updates(
    settings: Settings, store: SqliteJobStore, fleet_file: Path
) -> None:
    runner = FakeRunner(fleet_file, duration_s=UPDATE_S)
    app = create_app(with_settings(settings, batch_window_s=0.2, batch_max_wait_s=5.0), store, runner)
    started = time.monotonic()

    async def scenario() -> tuple[list[tuple[float, httpx.Response]], list[httpx.Response]]:
        async with serving(app) as client:

            async def signup(i: int) -> tuple[float, httpx.Response]:
                body = {"plan": "basic", "model_provider": "kimi"}
                if i % 2 == 0:
                    body["id"] = f"batch-{i:03d}"
                sent = time.time()
                return sent, await client.post("/v1/tenants", json=body)

            posted = await asyncio.gather(*(signup(i) for i in range(SIGNUPS)))
            ids = [response.json()["id"] for _, response in posted if response.status_code == 202]
            assert len(ids) == SIGNUPS, [r.text for _, r in posted if r.status_code != 202][:3]
            await asyncio.to_thread(wait_for, store, ids, 25.0)
            reads = await asyncio.gather(*(client.get(f"/v1/jobs/{job_id}") for job_id in ids))
        return posted, list(reads)

    posted, reads = asyncio.run(scenario())
    elapsed = time.monotonic() - started

    jobs = [store.get(response.json()["id"]) for _, response in posted]
    assert all(job is not None and job.state == "succeeded" for job in jobs)
    batches = {job.update_id for job in jobs if job is not None}
    assert len(runner.updates) <= 10, f"{len(runner.updates)} updates"
    assert len(batches) == len(runner.updates)
    assert runner.overlaps == 0

    # Every tenant is in the file, and was in the file when the update that reported it ran.
    fleet_ids = {t.id for t in load_fleet(fleet_file).tenants}
    by_update = {u.started: u.tenants for u in runner.updates}
    assert len(by_update) == len(runner.updates)
    for job in jobs:
        assert job is not None and job.tenant_id in fleet_ids
    assert len(fleet_ids) == 6 + SIGNUPS

    # Each creator gets its own token, once.
    for read, job in zip(reads, jobs, strict=True):
        assert job is not None and read.json()["gateway_token"] == fake_token(job.tenant_id)

    latencies = sorted(
        job.finished_at - sent for (sent, _), job in zip(posted, jobs, strict=True) if job and job.finished_at
    )
    p50 = statistics.median(latencies)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(
        f"\n{SIGNUPS} signups: {len(runner.updates)} updates of {UPDATE_S:g} s, "
        f"latency to succeeded p50 {p50:.2f} s, p99 {p99:.2f} s, max {latencies[-1]:.2f} s, wall {elapsed:.1f} s"
    )
