"""Group commit of fleet edits: concurrent requests share one validation and one write of tenants.yaml."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from signup.app import create_app
from signup.service import Accepted, EditQueue, SignupService
from signup.settings import Settings
from signup.store import SqliteJobStore
from tenants.edit import DuplicateTenant, Edit, EditError, EditResult, locked
from tenants.errors import FleetError
from tenants.load import load_fleet

from .conftest import serving, wait_for, with_settings
from .fakes import FakeRunner, fake_token

SIGNUPS = 200
UPDATE_S = 2.0
EXAMPLE_TENANTS = 6


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))]


def timed(calls: list[float], method: Callable[..., Accepted]) -> Callable[..., Accepted]:
    """``method``, recording how long each call takes (the service's own time per request)."""

    def wrapper(*args: Any, **kwargs: Any) -> Accepted:
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            calls.append(time.perf_counter() - started)

    return wrapper


def test_200_concurrent_signups_share_a_few_writes_and_updates(
    settings: Settings, store: SqliteJobStore, fleet_file: Path
) -> None:
    runner = FakeRunner(fleet_file, duration_s=UPDATE_S)
    app = create_app(with_settings(settings, batch_window_s=0.2, batch_max_wait_s=5.0), store, runner)
    service: SignupService = app.state.service
    in_service: list[float] = []
    service.create_tenant = timed(in_service, service.create_tenant)  # type: ignore[method-assign]
    started = time.monotonic()

    async def scenario() -> tuple[list[tuple[float, float, httpx.Response]], list[httpx.Response]]:
        async with serving(app) as client:

            async def signup(i: int) -> tuple[float, float, httpx.Response]:
                body = {"plan": "basic", "model_provider": "kimi"}
                if i % 2 == 0:
                    body["id"] = f"group-{i:03d}"
                sent = time.time()
                response = await client.post("/v1/tenants", json=body)
                return sent, time.time(), response

            posted = await asyncio.gather(*(signup(i) for i in range(SIGNUPS)))
            ids = [response.json()["id"] for _, _, response in posted if response.status_code == 202]
            assert len(ids) == SIGNUPS, [r.text for _, _, r in posted if r.status_code != 202][:3]
            await asyncio.to_thread(wait_for, store, ids, 40.0)
            reads = await asyncio.gather(*(client.get(f"/v1/jobs/{job_id}") for job_id in ids))
        return posted, list(reads)

    posted, reads = asyncio.run(scenario())
    elapsed = time.monotonic() - started

    jobs = [store.get(response.json()["id"]) for _, _, response in posted]
    assert all(job is not None and job.state == "succeeded" for job in jobs)
    assert len(runner.updates) <= 10, f"{len(runner.updates)} updates"
    assert len({job.update_id for job in jobs if job is not None}) == len(runner.updates)
    assert runner.overlaps == 0

    # Every edit is in the file, written by far fewer writes than requests.
    fleet_ids = {t.id for t in load_fleet(fleet_file).tenants}
    assert len(fleet_ids) == EXAMPLE_TENANTS + SIGNUPS
    assert {job.tenant_id for job in jobs if job is not None} <= fleet_ids
    assert sum(service.edits.batches) == SIGNUPS
    assert len(service.edits.batches) <= SIGNUPS // 4, service.edits.batches
    for read, job in zip(reads, jobs, strict=True):
        assert job is not None and read.json()["gateway_token"] == fake_token(job.tenant_id)

    post = [received - sent for sent, received, _ in posted]
    to_succeeded = [
        job.finished_at - sent for (sent, _, _), job in zip(posted, jobs, strict=True) if job and job.finished_at
    ]
    print(
        f"\n{SIGNUPS} signups: {len(service.edits.batches)} writes of tenants.yaml "
        f"(batch sizes {list(service.edits.batches)}), {len(runner.updates)} updates of {UPDATE_S:g} s; "
        f"POST p50 {statistics.median(post) * 1000:.0f} ms, p99 {p99(post) * 1000:.0f} ms; "
        f"in the service p50 {statistics.median(in_service) * 1000:.0f} ms, p99 {p99(in_service) * 1000:.0f} ms; "
        f"to succeeded p50 {statistics.median(to_succeeded):.2f} s, p99 {p99(to_succeeded):.2f} s; "
        f"wall {elapsed:.1f} s"
    )
    # Latency figures are printed here and measured by bench/signup_load.py; what this test holds is
    # the behaviour behind them: few writes of tenants.yaml and few updates for the whole burst.


def test_a_refused_request_in_a_burst_fails_alone_with_the_error_it_gets_alone(
    settings: Settings, store: SqliteJobStore, fleet_file: Path
) -> None:
    runner = FakeRunner(fleet_file, duration_s=0.05)
    app = create_app(settings, store, runner)
    service: SignupService = app.state.service

    async def scenario() -> tuple[httpx.Response, list[httpx.Response], list[str]]:
        async with serving(app) as client:
            alone = await client.post(
                "/v1/tenants", json={"id": "bad-000", "plan": "platinum", "model_provider": "kimi"}
            )
            requests: list[tuple[str, str, dict[str, Any] | None]] = []
            for i in range(30):
                requests.append(
                    ("POST", "/v1/tenants", {"id": f"good-{i:03d}", "plan": "basic", "model_provider": "kimi"})
                )
            requests[7] = ("POST", "/v1/tenants", {"id": "bad-007", "plan": "platinum", "model_provider": "kimi"})
            requests[12] = ("POST", "/v1/tenants", {"id": "acme", "plan": "basic", "model_provider": "kimi"})
            requests[20] = ("POST", "/v1/tenants", {"id": "bad-020", "plan": "platinum", "model_provider": "kimi"})
            requests[25] = ("POST", "/v1/tenants/globex/suspend", None)
            requests[26] = ("POST", "/v1/tenants/nobody/suspend", None)
            responses = await asyncio.gather(
                *(client.request(method, url, json=body) for method, url, body in requests)
            )
            ids = [r.json()["id"] for r in responses if r.status_code == 202]
            await asyncio.to_thread(wait_for, store, ids)
            return alone, list(responses), ids

    alone, responses, ids = asyncio.run(scenario())

    statuses = [r.status_code for r in responses]
    expected = [202] * 30
    expected[7] = expected[20] = 422
    expected[12] = 409
    expected[26] = 404
    assert statuses == expected, [r.text for r in responses if r.status_code != 202]
    assert alone.status_code == 422
    for refused in (responses[7], responses[20]):
        assert refused.json()["error"]["code"] == "invalid_tenant"
        assert refused.json()["error"]["message"] == alone.json()["error"]["message"]  # the same error as on its own
        assert refused.json()["error"]["details"] == alone.json()["error"]["details"]
    assert responses[12].json()["error"]["code"] == "tenant_exists"
    assert responses[26].json()["error"]["code"] == "tenant_not_found"

    fleet = load_fleet(fleet_file)
    good = {f"good-{i:03d}" for i in range(30)} - {"good-007", "good-012", "good-020", "good-025", "good-026"}
    assert {t.id for t in fleet.tenants} == {*good, "acme", "globex", "initech", "umbrella", "hooli", "vandelay"}
    assert fleet.tenant("globex").state == "suspended"
    assert "platinum" not in fleet_file.read_text()
    assert store.unfinished() == []
    assert all(job is not None and job.state == "succeeded" for job in (store.get(i) for i in ids))
    assert len(service.edits.batches) < 1 + 28  # the lone request, then batches of several edits


def test_concurrent_requests_with_one_idempotency_key_create_one_job(
    settings: Settings, store: SqliteJobStore, fleet_file: Path
) -> None:
    app = create_app(settings, store, FakeRunner(fleet_file, duration_s=0.05))
    body = {"id": "keyed", "plan": "basic", "model_provider": "kimi"}

    async def scenario() -> tuple[list[httpx.Response], httpx.Response]:
        async with serving(app) as client:
            headers = {**client.headers, "Idempotency-Key": "signup-1"}
            first = await asyncio.gather(*(client.post("/v1/tenants", json=body, headers=headers) for _ in range(8)))
            job_ids = [r.json()["id"] for r in first if r.status_code == 202]
            await asyncio.to_thread(wait_for, store, job_ids)
            again = await client.post("/v1/tenants", json=body, headers=headers)
            return list(first), again

    first, again = asyncio.run(scenario())

    accepted = [r for r in first if r.status_code == 202]
    assert len({r.json()["id"] for r in accepted}) == 1
    for response in first:
        assert response.status_code == 202 or response.json()["error"]["code"] in (
            "request_in_progress",
            "tenant_exists",
        )
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == accepted[0].json()["id"]
    assert [t.id for t in load_fleet(fleet_file).tenants].count("keyed") == 1


# --- the queue itself ---------------------------------------------------------------------------


def test_a_lone_edit_is_written_at_once(fleet_file: Path) -> None:
    queue = EditQueue(fleet_file, lock_timeout_s=5.0, gather_max_s=5.0)
    started = time.monotonic()
    outcome = queue.apply(Edit.add({"id": "alone", "plan": "basic"}))
    queue.stop()

    assert isinstance(outcome, EditResult) and outcome.tenant.id == "alone"
    assert time.monotonic() - started < 2.0  # nobody announced: no gathering
    assert list(queue.batches) == [1]


def test_the_writer_waits_for_announced_edits(fleet_file: Path) -> None:
    queue = EditQueue(fleet_file, lock_timeout_s=5.0, gather_max_s=10.0)
    slow_in, leaving_in = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def slow() -> None:
        with queue.preparing():
            slow_in.set()
            time.sleep(0.3)  # the job row, the fleet lookups...
            outcomes["slow"] = queue.apply(Edit.add({"id": "slow-one", "plan": "basic"}))

    def leaves() -> None:
        with queue.preparing():
            leaving_in.set()
            time.sleep(0.6)  # refused before its edit (a 409, say): leaving the block is enough

    threads = [threading.Thread(target=slow), threading.Thread(target=leaves)]
    for thread in threads:
        thread.start()
    slow_in.wait()
    leaving_in.wait()
    started = time.monotonic()
    outcomes["fast"] = queue.apply(Edit.add({"id": "fast-one", "plan": "basic"}))
    waited = time.monotonic() - started
    for thread in threads:
        thread.join()
    queue.stop()

    assert list(queue.batches) == [2]  # fast-one waited for slow-one: one write for both
    assert 0.4 < waited < 5.0  # and for the one that left without an edit, but not for gather_max_s
    assert all(isinstance(o, EditResult) for o in outcomes.values())
    assert {"slow-one", "fast-one"} <= {t.id for t in load_fleet(fleet_file).tenants}


def test_each_caller_of_a_batch_gets_its_own_outcome(fleet_file: Path) -> None:
    queue = EditQueue(fleet_file, lock_timeout_s=5.0, gather_max_s=10.0)
    edits = [
        Edit.add({"id": "one-ok", "plan": "basic"}),
        Edit.add({"id": "acme"}),
        Edit.add({"id": "two-bad", "plan": "platinum"}),
        Edit.set_state("globex", "suspended"),
        Edit.set_state("initech", "paused"),
    ]
    results: list[object] = [None] * len(edits)
    all_in = threading.Barrier(len(edits))

    def submit(i: int) -> None:
        with queue.preparing():
            all_in.wait()
            results[i] = queue.apply(edits[i])

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(edits))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.stop()

    assert list(queue.batches) == [len(edits)]
    assert isinstance(results[0], EditResult) and results[0].tenant.id == "one-ok"
    assert isinstance(results[1], DuplicateTenant)
    assert isinstance(results[2], FleetError)
    assert isinstance(results[3], EditResult) and results[3].tenant.state == "suspended"
    assert isinstance(results[4], EditError) and "unknown state 'paused'" in str(results[4])
    fleet = load_fleet(fleet_file)
    assert "one-ok" in {t.id for t in fleet.tenants} and fleet.tenant("globex").state == "suspended"


def test_a_batch_that_cannot_be_tried_fails_every_caller(fleet_file: Path) -> None:
    queue = EditQueue(fleet_file, lock_timeout_s=0.2, gather_max_s=0.0)
    before = fleet_file.read_bytes()
    results: list[object] = [None] * 3

    def submit(i: int) -> None:
        try:
            results[i] = queue.apply(Edit.add({"id": f"late-{i}", "plan": "basic"}))
        except EditError as exc:
            results[i] = exc

    with locked(fleet_file, 5.0):
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    queue.stop()

    assert all(isinstance(r, EditError) and "gave up waiting" in str(r) for r in results)
    assert sum(queue.batches) == 3
    assert fleet_file.read_bytes() == before


def test_the_writer_ends_when_idle_and_starts_again(fleet_file: Path) -> None:
    queue = EditQueue(fleet_file, lock_timeout_s=5.0, idle_s=0.05)
    assert isinstance(queue.apply(Edit.add({"id": "first-one"})), EditResult)
    deadline = time.monotonic() + 5
    while queue._writer is not None:
        assert time.monotonic() < deadline, "the idle writer did not end"
        time.sleep(0.02)
    assert isinstance(queue.apply(Edit.add({"id": "second-one"})), EditResult)
    queue.stop()
    assert list(queue.batches) == [1, 1]


@pytest.mark.parametrize("kind", ["create", "suspend"])
def test_a_lock_timeout_is_a_409_as_before(
    settings: Settings, store: SqliteJobStore, fleet_file: Path, kind: str
) -> None:
    app = create_app(with_settings(settings, lock_timeout_s=0.2), store, FakeRunner(fleet_file))

    async def scenario() -> httpx.Response:
        async with serving(app) as client:
            with locked(fleet_file, 5.0):
                if kind == "create":
                    return await client.post(
                        "/v1/tenants", json={"id": "late-one", "plan": "basic", "model_provider": "kimi"}
                    )
                return await client.post("/v1/tenants/acme/suspend")

    response = asyncio.run(scenario())
    assert response.status_code == 409 and response.json()["error"]["code"] == "edit_refused"
    assert "gave up waiting" in response.json()["error"]["message"]
    assert store.unfinished() == []
