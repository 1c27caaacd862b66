"""The signup service in process: the example fleet with room for a burst of signups, the operator's
token, the app served with its workers running, and a bounded wait for its jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2 as httpx
from fastapi import FastAPI

from signup.store import Job, SqliteJobStore

from .paths import EXAMPLE_FLEET_FILE
from .waiting import wait_until

TOKEN = "operator-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

SMALL_CAPACITY = "      cpus: 8\n      memory_gib: 32\n      networks: 30"
LARGE_CAPACITY = "      cpus: 128\n      memory_gib: 1024\n      networks: 4096"
SMALL_STORAGE, LARGE_STORAGE = "      storage_gib: 1000 ", "      storage_gib: 100000 "


def write_example_fleet(path: Path) -> Path:
    """The example fleet at ``path``, its local Docker host large enough for a few hundred basic tenants."""
    text = EXAMPLE_FLEET_FILE.read_text(encoding="utf-8")
    if SMALL_CAPACITY not in text or SMALL_STORAGE not in text:
        raise AssertionError("tenants.yaml's local capacity changed; update harness/signup_service.py")
    path.parent.mkdir(parents=True, exist_ok=True)
    larger = text.replace(SMALL_CAPACITY, LARGE_CAPACITY).replace(SMALL_STORAGE, LARGE_STORAGE)
    path.write_text(larger, encoding="utf-8")
    return path


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

    def jobs() -> list[Job | None]:
        return [store.get(job_id) for job_id in job_ids]

    try:
        wait_until(lambda: all(job is not None and job.done for job in jobs()), timeout, interval_s=0.02)
    except TimeoutError:
        states = sorted({(job.state if job else "missing") for job in jobs()})
        raise AssertionError(f"jobs still unfinished after {timeout} s: states {states}") from None
    return [job for job in jobs() if job is not None]
