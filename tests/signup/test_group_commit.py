"""Group commit of fleet edits: concurrent requests share one validation and one write of tenants.yaml."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from harness.fake_runner import FakeRunner
from harness.signup_service import serving, wait_for
from signup.app import create_app
from signup.config import ServiceConfig
from signup.edit_queue import EditQueue
from signup.service import SignupService
from signup.store import SqliteJobStore
from tenants.edit import DuplicateTenant, Edit, EditError, EditResult
from tenants.errors import FleetError
from tenants.file_lock import locked
from tenants.load import load_fleet

from .conftest import eventually, with_config

WAIT_S = 20.0  # the bound of every wait for another thread
GATHER_FOREVER_S = 3600.0  # a writer that waited this long would fail the bounded waits instead


def finished(call: Callable[[], object], meaning: str) -> object:
    """What ``call`` returns, run in another thread; fails instead of waiting longer than WAIT_S."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(WAIT_S)
    assert result, f"still waiting after {WAIT_S:g} s ({meaning})"
    return result[0]


def test_a_refused_request_in_a_burst_fails_alone_with_the_error_it_gets_alone(
    config: ServiceConfig, store: SqliteJobStore, fleet_file: Path
) -> None:
    runner = FakeRunner(fleet_file, duration_s=0.05)
    app = create_app(config, store, runner)
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
    config: ServiceConfig, store: SqliteJobStore, fleet_file: Path
) -> None:
    app = create_app(config, store, FakeRunner(fleet_file, duration_s=0.05))
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
    queue = EditQueue(fleet_file, lock_timeout_s=5.0, gather_max_s=GATHER_FOREVER_S)
    outcome = finished(
        lambda: queue.apply(Edit.add({"id": "alone", "plan": "basic"})), "nobody announced: no gathering"
    )
    queue.stop()

    assert isinstance(outcome, EditResult) and outcome.tenant.id == "alone"
    assert list(queue.batches) == [1]


def test_the_writer_waits_for_announced_edits(fleet_file: Path) -> None:
    queue = EditQueue(fleet_file, lock_timeout_s=5.0, gather_max_s=GATHER_FOREVER_S)
    slow_in, slow_go, leaving_in, leaving_go = (threading.Event() for _ in range(4))
    outcomes: dict[str, object] = {}

    def slow() -> None:
        with queue.preparing():
            slow_in.set()
            slow_go.wait(WAIT_S)  # the job row, the fleet lookups...
            outcomes["slow"] = queue.apply(Edit.add({"id": "slow-one", "plan": "basic"}))

    def leaves() -> None:
        with queue.preparing():
            leaving_in.set()
            leaving_go.wait(WAIT_S)  # refused before its edit (a 409, say): leaving the block is enough

    def fast() -> None:
        outcomes["fast"] = queue.apply(Edit.add({"id": "fast-one", "plan": "basic"}))

    threads = [threading.Thread(target=slow), threading.Thread(target=leaves)]
    for thread in threads:
        thread.start()
    assert slow_in.wait(WAIT_S) and leaving_in.wait(WAIT_S)
    threads.append(threading.Thread(target=fast))
    threads[-1].start()
    eventually(lambda: queue.waiting == 1, "fast-one never handed in its edit")
    slow_go.set()
    eventually(lambda: queue.waiting == 2, "slow-one never handed in its edit")
    assert list(queue.batches) == [] and "fast" not in outcomes  # fast-one waits for slow-one, and for the one
    leaving_go.set()  # that has not left yet; once it leaves, the batch is written (not after gather_max_s)
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive(), "an edit was still waiting after every announced request had left"
    queue.stop()

    assert list(queue.batches) == [2]  # one write for both
    assert all(isinstance(o, EditResult) for o in outcomes.values()) and len(outcomes) == 2
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
    writer = queue._writer
    if writer is not None:
        writer.join(WAIT_S)
    assert queue._writer is None, "the idle writer did not end"
    assert isinstance(queue.apply(Edit.add({"id": "second-one"})), EditResult)
    queue.stop()
    assert list(queue.batches) == [1, 1]


@pytest.mark.parametrize("kind", ["create", "suspend"])
def test_a_lock_timeout_is_a_409_as_before(
    config: ServiceConfig, store: SqliteJobStore, fleet_file: Path, kind: str
) -> None:
    app = create_app(with_config(config, lock_timeout_s=0.2), store, FakeRunner(fleet_file))

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
