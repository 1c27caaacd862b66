"""The signup service under a burst: 200 concurrent signups on one shard, fake runner (2 s per update).

Reports updates used, latency from POST to "succeeded" (p50/p99), and the service's own overhead per
request: how long a POST takes to answer 202 (the edit of tenants.yaml and the stored job).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from harness.fake_runner import FakeRunner
from harness.paths import ROOT
from harness.signup_service import TOKEN, serving, wait_for, write_example_fleet
from signup.app import create_app
from signup.config import ServiceConfig
from signup.store import SqliteJobStore

SIGNUPS = 200
UPDATE_S = 2.0


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def measure(signups: int = SIGNUPS, update_s: float = UPDATE_S) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        fleet_file = write_example_fleet(Path(tmp) / "tenants.yaml")
        config = ServiceConfig(
            tokens={"operator": TOKEN},
            project_dir=ROOT,
            fleet_file=fleet_file,
            db_path=Path(tmp) / "jobs.sqlite3",
            rate_limit_rps=10_000,
            rate_limit_burst=10_000,
            batch_window_s=0.2,
            batch_max_wait_s=5.0,
            busy_retries=3,
            busy_backoff_s=0.01,
            lock_timeout_s=60.0,
        )
        store = SqliteJobStore(config.db_path)
        runner = FakeRunner(fleet_file, duration_s=update_s)
        app = create_app(config, store, runner)

        async def burst() -> list[tuple[float, float, str]]:
            async with serving(app) as client:

                async def signup(i: int) -> tuple[float, float, str]:
                    sent = time.time()
                    response = await client.post("/v1/tenants", json={"plan": "basic", "model_provider": "kimi"})
                    assert response.status_code == 202, response.text
                    return sent, time.time() - sent, response.json()["id"]

                posted = await asyncio.gather(*(signup(i) for i in range(signups)))
                await asyncio.to_thread(wait_for, store, [job_id for _, _, job_id in posted], 120.0)
                return list(posted)

        started = time.monotonic()
        posted = asyncio.run(burst())
        wall = time.monotonic() - started
        jobs = {job_id: store.get(job_id) for _, _, job_id in posted}
        store.close()
    to_succeeded = []
    for sent, _, job_id in posted:
        job = jobs[job_id]
        assert job is not None and job.state == "succeeded" and job.finished_at is not None
        to_succeeded.append(job.finished_at - sent)
    overhead_ms = [seconds * 1000 for _, seconds, _ in posted]
    return {
        "signup_updates": len(runner.updates),
        "signup_p50_s": round(statistics.median(to_succeeded), 2),
        "signup_p99_s": round(percentile(to_succeeded, 99), 2),
        "signup_p99_in_updates": round(percentile(to_succeeded, 99) / update_s, 2),
        "signup_overhead_p50_ms": round(statistics.median(overhead_ms), 1),
        "signup_overhead_p99_ms": round(percentile(overhead_ms, 99), 1),
        "signup_wall_s": round(wall, 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=1))
