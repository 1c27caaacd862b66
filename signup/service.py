"""The signup service's logic, independent of HTTP: accept a change, deploy it, report it.

Accepting a change (what a 202 acknowledges):

1. the job is stored ``pending``; this reserves the client's idempotency key, so a retry that races the
   original finds it (409 while it is pending, the original job afterwards);
2. the change is written into tenants.yaml by the shared round-trip editor (file lock, the new fleet
   validated, atomic replace); a refused change deletes the pending job and answers 4xx. The edits of
   concurrent requests are written together (group commit, :class:`EditQueue`): one writer thread takes
   every edit waiting when it gets to the file and applies them with one ``apply_edits`` call, one
   validation and one write; each request waits for its own edit's outcome, and an edit the batch
   refuses fails alone, with the same error it would have got on its own;
3. the job becomes ``queued`` and the stack's worker is woken. Only now does the caller get its 202.

A crash between 1 and 3 leaves a ``pending`` job that nobody was told about; the next start queues it
if its change reached the file and drops it otherwise. ``running`` jobs lost their update and are queued
again (``pulumi up`` is idempotent). So every acknowledged job reaches ``succeeded`` or ``failed``.

A failed update leaves tenants.yaml as it is: still valid, still the desired state. The next update of
the stack (any later job, or ``POST /v1/jobs/{id}/retry``) deploys it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

from tenants.edit import (
    DuplicateTenant,
    Edit,
    EditError,
    EditOutcome,
    EditResult,
    UnknownTenant,
    apply_edits,
    generate_id,
)
from tenants.errors import FleetError, format_path
from tenants.load import load_fleet
from tenants.model import Fleet, Tenant

from .errors import ApiError
from .gitcommit import commit_file
from .placement import choose_shard
from .runner import StackRunner
from .schemas import CreateTenant
from .settings import Settings
from .store import DuplicateKeyError, Job, JobKind, JobStore
from .tokens import TokenVault, matches
from .worker import StackWorker

log = logging.getLogger("signup.service")

StateKind = Literal["suspend", "resume", "offboard"]
TARGET_STATE: Mapping[str, Literal["active", "suspended", "offboarded"]] = {
    "suspend": "suspended",
    "resume": "active",
    "offboard": "offboarded",
}
ID_ATTEMPTS = 20
EDIT_GATHER_MAX_S = 0.05  # how long the fleet writer may wait for edits of requests already being handled
CHECKED_FIELDS = ("plan", "model_provider", "target", "shard", "channel")

Apply = Callable[[str], tuple[str, str]]  # pending job id → (tenant id, shard), after editing the file


@dataclass(frozen=True)
class Accepted:
    job: Job
    replayed: bool  # an Idempotency-Key retry: the original job, nothing done again


class SignupService:
    def __init__(self, settings: Settings, store: JobStore, runner: StackRunner) -> None:
        self.settings = settings
        self.store = store
        self.runner = runner
        self.vault = TokenVault()
        self.fleets = FleetCache(settings.fleet_file)
        self.edits = EditQueue(
            settings.fleet_file,
            lock_timeout_s=settings.lock_timeout_s,
            gather_max_s=EDIT_GATHER_MAX_S,
            on_written=self.fleets.written,
        )
        self._workers: dict[str, StackWorker] = {}
        self._writing: dict[str, str] = {}  # job id → stack, while the job's change is being written
        self._lock = threading.Lock()
        self._running = False

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Recover what a previous run left unfinished, then start a worker for every stack with work."""
        self._recover()
        with self._lock:
            self._running = True
        for stack in self.store.queued_stacks():
            self._worker(stack).notify()

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._running = False
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop(timeout)
        self.edits.stop(timeout)

    def _worker(self, stack: str) -> StackWorker:
        with self._lock:
            worker = self._workers.get(stack)
            if worker is None or not worker.alive:
                worker = StackWorker(
                    stack,
                    store=self.store,
                    runner=self.runner,
                    vault=self.vault,
                    batch_window_s=self.settings.batch_window_s,
                    batch_max_wait_s=self.settings.batch_max_wait_s,
                    writing=self._writing_count,
                    busy_retries=self.settings.busy_retries,
                    busy_backoff_s=self.settings.busy_backoff_s,
                )
                self._workers[stack] = worker
                if self._running:
                    worker.start()
        return worker

    def _writing_count(self, stack: str) -> int:
        with self._lock:
            return sum(1 for s in self._writing.values() if s == stack)

    def _recover(self) -> None:
        requeued = self.store.requeue_running()
        if requeued:
            log.warning("queued %d job(s) again whose update was interrupted", requeued)
        pending = [job for job in self.store.unfinished() if job.state == "pending"]
        if not pending:
            return
        try:
            fleet = load_fleet(self.settings.fleet_file)
        except FleetError as exc:
            log.error("cannot recover %d pending job(s): %s", len(pending), exc.render())
            return
        for job in pending:
            if job.tenant_id and _reflected(fleet, job):
                self.store.mark_queued(job.id)
                self.store.audit(
                    "service", job.kind, job.tenant_id, job_id=job.id, result="recovered", detail="change in the file"
                )
            else:
                self.store.delete(job.id)
                self.store.audit(
                    "service", job.kind, job.tenant_id, job_id=job.id, result="dropped", detail="never acknowledged"
                )

    # --- accepting changes ---------------------------------------------------------------------

    def create_tenant(self, client: str, body: CreateTenant, key: str | None) -> Accepted:
        request = body.model_dump(mode="json", exclude_none=True)
        return self._accept(client, key, "create", request, lambda job_id: self._add(job_id, body))

    def change_state(self, client: str, tenant_id: str, kind: StateKind, key: str | None) -> Accepted:
        state = TARGET_STATE[kind]
        return self._accept(
            client, key, kind, {"tenant_id": tenant_id}, lambda job_id: self._set_state(job_id, tenant_id, state)
        )

    def retry(self, client: str, job_id: str, key: str | None) -> Accepted:
        """Run a failed job's change again: a new job for the same tenant (and, for a create, its token)."""
        original = self.store.get(job_id)
        if original is None or original.state == "pending":
            raise ApiError(404, "job_not_found", f"no job {job_id!r}")
        if original.client != client:
            raise ApiError(403, "forbidden", "only the client that asked for a job may retry it")
        if original.state != "failed":
            raise ApiError(409, "job_not_failed", f"job {job_id!r} is {original.state}; only failed jobs are retried")
        if original.kind == "create":

            def apply(new_id: str) -> tuple[str, str]:
                tenant = self._tenant(self._fleet(), original.tenant_id)
                self._pending(new_id, original.tenant_id, tenant.shard)
                return tenant.id, tenant.shard

        else:

            def apply(new_id: str) -> tuple[str, str]:
                return self._set_state(new_id, original.tenant_id, TARGET_STATE[original.kind])

        request = {"retry_of": job_id, "tenant_id": original.tenant_id}
        return self._accept(client, key, original.kind, request, apply)

    def _accept(
        self, client: str, key: str | None, kind: JobKind, request: Mapping[str, object], apply: Apply
    ) -> Accepted:
        refused: Exception | None = None
        with self.edits.preparing():  # the writer may wait a moment for this request's edit
            fingerprint = hashlib.sha256(json.dumps([kind, request], sort_keys=True).encode()).hexdigest()
            if key is not None and (existing := self.store.by_key(client, key)) is not None:
                return _replay(existing, fingerprint)
            job = Job(
                id=f"j-{uuid.uuid4().hex[:16]}",
                kind=kind,
                client=client,
                request_hash=fingerprint,
                request=request,
                idempotency_key=key,
                # A new tenant's id is recorded only once it is known to be free (``_pending``), so a restart
                # never mistakes someone else's existing tenant for this job's.
                tenant_id=str(request.get("tenant_id") or ""),
            )
            try:
                self.store.insert(job)
            except DuplicateKeyError:
                existing = self.store.by_key(client, key or "")
                if existing is None:  # the other request was refused and dropped its job just now
                    raise ApiError(
                        409, "request_in_progress", "retry this request", headers={"Retry-After": "1"}
                    ) from None
                return _replay(existing, fingerprint)
            try:
                tenant_id, _ = apply(job.id)
            except Exception as exc:
                refused = exc
        if refused is not None:
            self._refused(client, kind, request, job, refused)
        try:
            queued = self.store.mark_queued(job.id)
        finally:
            self._written(job.id)
        detail = f"shard {queued.shard}, stack {queued.stack}"
        self.store.audit(client, kind, tenant_id, job_id=job.id, result="accepted", detail=detail)
        if self.settings.git_commit:
            message = f"signup: {kind} tenant {tenant_id}\n\nJob: {job.id}\nRequested-by: {client}\n"
            reason = commit_file(self.settings.fleet_file, message)
            if reason:
                log.warning("job %s: %s", job.id, reason)
                self.store.audit(client, "git commit", tenant_id, job_id=job.id, result="failed", detail=reason)
        self._worker(queued.stack).notify()
        return Accepted(queued, replayed=False)

    def _refused(self, client: str, kind: JobKind, request: Mapping[str, object], job: Job, exc: Exception) -> NoReturn:
        """Drop the job of a change that did not reach the file, audit why, and raise the API's error."""
        self._written(job.id)
        self.store.delete(job.id)
        subject = str(request.get("id") or request.get("tenant_id") or "")
        error = _refusal(exc)
        if error is None:
            self.store.audit(client, kind, subject, job_id=None, result="error", detail=type(exc).__name__)
            raise exc
        detail = f"{error.code}: {error.message}"[:500]
        self.store.audit(client, kind, subject, job_id=None, result="refused", detail=detail)
        if error is exc:
            raise exc
        raise error from None

    def _fleet(self) -> Fleet:
        try:
            return self.fleets.current()
        except FleetError as exc:
            log.error("the fleet file is invalid:\n%s", exc.render())
            raise ApiError(503, "fleet_invalid", "tenants.yaml is invalid right now; an operator must fix it") from None

    def _tenant(self, fleet: Fleet, tenant_id: str) -> Tenant:
        try:
            return fleet.tenant(tenant_id)
        except KeyError:
            raise ApiError(404, "tenant_not_found", f"no tenant {tenant_id!r} in tenants.yaml") from None

    def _pending(self, job_id: str, tenant_id: str, shard: str) -> str:
        """Record where a change goes, just before it is written; its stack's worker waits for it."""
        stack = self.settings.stack_for(shard)
        self.store.update_pending(job_id, tenant_id=tenant_id, shard=shard, stack=stack)
        with self._lock:
            self._writing[job_id] = stack
        return stack

    def _written(self, job_id: str) -> None:
        with self._lock:
            self._writing.pop(job_id, None)

    def _add(self, job_id: str, body: CreateTenant) -> tuple[str, str]:
        for _ in range(ID_ATTEMPTS):
            fleet = self._fleet()
            if body.id is not None and any(t.id == body.id for t in fleet.tenants):
                raise ApiError(409, "tenant_exists", f"tenant {body.id!r} already exists")
            tenant_id = body.id or generate_id(fleet, self.settings.id_prefix)
            shard = choose_shard(fleet, target=body.target, shard=body.shard)
            self._pending(job_id, tenant_id, shard)  # before the edit: a restart can then find it in the file
            outcome = self.edits.apply(Edit.add(body.fields(tenant_id, shard, fleet.defaults.shard)))
            if isinstance(outcome, DuplicateTenant) and body.id is None:
                continue  # another signup took the generated id first; generate again
            result = _result(outcome)
            if result.tenant.shard != shard:
                self._pending(job_id, result.tenant.id, result.tenant.shard)
            return result.tenant.id, result.tenant.shard
        raise ApiError(503, "busy", "could not allocate a tenant id; retry", headers={"Retry-After": "1"})

    def _set_state(
        self, job_id: str, tenant_id: str, state: Literal["active", "suspended", "offboarded"]
    ) -> tuple[str, str]:
        tenant = self._tenant(self._fleet(), tenant_id)
        self._pending(job_id, tenant_id, tenant.shard)
        result = _result(self.edits.apply(Edit.set_state(tenant_id, state)))
        return result.tenant.id, result.tenant.shard

    # --- reading -------------------------------------------------------------------------------

    def job(self, client: str, job_id: str) -> tuple[Job, str | None]:
        """A job; with its gateway token when this is the first read of a succeeded create by its creator."""
        job = self.store.get(job_id)
        if job is None or job.state == "pending":
            raise ApiError(404, "job_not_found", f"no job {job_id!r}")
        token = None
        if job.kind == "create" and job.state == "succeeded" and job.token_state == "pending" and job.client == client:
            token = self._deliver(job)
            job = self.store.get(job_id) or job
        return job, token

    def _deliver(self, job: Job) -> str | None:
        token = self.vault.peek(job.id)
        if token is None:  # a restart emptied the vault: read it again from the stack's outputs
            try:
                token = self.runner.tenant_token(job.stack, job.tenant_id)
            except Exception:
                log.exception("job %s: cannot read the gateway token from stack %s", job.id, job.stack)
                return None
            if token is None or job.token_sha256 is None or not matches(token, job.token_sha256):
                log.warning("job %s: the stack's token for %s is not the one created", job.id, job.tenant_id)
                return None
        if not self.store.take_token(job.id):
            return None
        self.vault.discard(job.id)
        self.store.audit(job.client, "deliver token", job.tenant_id, job_id=job.id, result="delivered")
        return token

    def tenant(self, tenant_id: str) -> tuple[Fleet, Tenant, Job | None, Job | None]:
        """The tenant as declared, its latest job, and its latest succeeded job."""
        fleet = self._fleet()
        tenant = self._tenant(fleet, tenant_id)
        return (
            fleet,
            tenant,
            self.store.latest_for_tenant(tenant_id),
            self.store.latest_for_tenant(tenant_id, succeeded=True),
        )


class FleetCache:
    """The fleet file, parsed again only when it changed (every edit replaces the file: another inode,
    size or mtime) or when the parse is older than ``max_age_s`` (an inode reused within one mtime tick
    cannot keep a stale fleet for longer). Reads that decide nothing final use it: placement, id
    generation, GET; every edit validates the file it changes, under the lock."""

    def __init__(self, path: Path, max_age_s: float = 1.0) -> None:
        self.path = path
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._loading = threading.Lock()  # one parse at a time: after a write, many requests want the new fleet
        self._key: tuple[int, int, int] | None = None
        self._fleet: Fleet | None = None
        self._loaded = 0.0

    def current(self) -> Fleet:
        """Raise FleetError when the file is invalid (or unreadable)."""
        fleet = self._cached()
        if fleet is not None:
            return fleet
        with self._loading:
            fleet = self._cached()  # another thread may have parsed this very file while this one waited
            if fleet is not None:
                return fleet
            try:
                info = os.stat(self.path)
            except OSError:
                return load_fleet(self.path)  # its FleetError says why
            now = time.monotonic()
            fleet = load_fleet(self.path)  # a change during the read only makes the next call read again
            with self._lock:
                self._key, self._fleet, self._loaded = (info.st_ino, info.st_size, info.st_mtime_ns), fleet, now
            return fleet

    def written(self, fleet: Fleet) -> None:
        """The editor just wrote ``fleet`` and still holds the file's lock: the file is exactly that fleet,
        so the requests after a write need not parse it again. Never raises."""
        try:
            info = os.stat(self.path)
        except OSError:
            return
        with self._lock:
            self._key, self._fleet, self._loaded = (
                (info.st_ino, info.st_size, info.st_mtime_ns),
                fleet,
                time.monotonic(),
            )

    def _cached(self) -> Fleet | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        key = (info.st_ino, info.st_size, info.st_mtime_ns)
        with self._lock:
            if key == self._key and self._fleet is not None and time.monotonic() - self._loaded < self.max_age_s:
                return self._fleet
        return None


class EditQueue:
    """Group commit for one fleet file: callers hand in edits and wait; one writer thread takes every
    edit waiting when it gets to the file and applies them with one :func:`tenants.edit.apply_edits`
    (one lock, one validation, one write), then hands each caller its own outcome.

    Requests announce themselves with :meth:`preparing` before the work that precedes their edit (the
    job row, the fleet lookups); the writer, once an edit waits, also waits for the announced ones, at
    most ``gather_max_s``, so a burst becomes a few large batches rather than many small ones, while a
    lone edit is written at once. The writer thread starts with the first edit and ends after ``idle_s``
    without any."""

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout_s: float,
        gather_max_s: float = 0.05,
        idle_s: float = 5.0,
        on_written: Callable[[Fleet], None] | None = None,
    ) -> None:
        self.path = path
        self.lock_timeout_s = lock_timeout_s
        self.on_written = on_written  # called with each fleet written, under the file's lock
        self.gather_max_s = gather_max_s
        self.idle_s = idle_s
        self.batches: deque[int] = deque(maxlen=1000)  # the sizes of the last batches written (tests, metrics)
        self._cond = threading.Condition()
        self._waiting: list[tuple[Edit, Future[EditOutcome]]] = []
        self._preparing = 0  # announced requests that have not handed in an edit yet
        self._announced = threading.local()
        self._writer: threading.Thread | None = None
        self._stopping = False

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """Announce that this thread is about to hand in an edit (it need not: leaving the block is enough)."""
        with self._cond:
            self._preparing += 1
        self._announced.active = True
        try:
            yield
        finally:
            self._handed_in()

    def _handed_in(self) -> None:
        if self._take_announcement():
            with self._cond:
                self._preparing -= 1
                if self._preparing == 0:
                    self._cond.notify()

    def _take_announcement(self) -> bool:
        """Whether this thread announced an edit it has not handed in yet (and from now on: no)."""
        announced = bool(getattr(self._announced, "active", False))
        self._announced.active = False
        return announced

    def apply(self, edit: Edit) -> EditOutcome:
        """The edit's outcome once it is in the file (or refused): an EditResult, EditError or FleetError.

        Raises what the batch raised when no edit of it could be tried (lock timeout, unreadable or
        invalid file, a failed write): the same as :func:`tenants.edit.add_tenant` would raise."""
        announced = self._take_announcement()
        future: Future[EditOutcome] = Future()
        with self._cond:  # one step: the writer never sees the announcement gone and the edit not there
            self._preparing -= int(announced)
            self._waiting.append((edit, future))
            if self._writer is None:
                self._stopping = False
                self._writer = threading.Thread(target=self._run, name="signup-fleet-writer", daemon=True)
                self._writer.start()
            else:
                self._cond.notify()
        return future.result()

    def stop(self, timeout: float = 5.0) -> None:
        """Let the writer write what is waiting, then end."""
        with self._cond:
            writer = self._writer
            self._stopping = True
            self._cond.notify()
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._until(lambda: bool(self._waiting) or self._stopping, self.idle_s)
                if not self._waiting:
                    self._writer = None
                    return
                self._until(lambda: self._preparing <= 0 or self._stopping, self.gather_max_s)
                batch, self._waiting = self._waiting, []
            self._write(batch)

    def _until(self, done: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cond.wait(remaining)

    def _write(self, batch: list[tuple[Edit, Future[EditOutcome]]]) -> None:
        self.batches.append(len(batch))
        try:
            outcomes = apply_edits(
                self.path,
                [edit for edit, _ in batch],
                lock_timeout_s=self.lock_timeout_s,
                on_written=self.on_written,
            )
            if len(outcomes) != len(batch):  # pragma: no cover - apply_edits answers every edit
                raise RuntimeError(f"apply_edits answered {len(outcomes)} of {len(batch)} edits")
        except BaseException as exc:  # nothing was written: every caller of the batch gets the error
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            future.set_result(outcome)


def _replay(existing: Job, fingerprint: str) -> Accepted:
    if existing.request_hash != fingerprint:
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"this Idempotency-Key was used for a different request (job {existing.id})",
        )
    if existing.state == "pending":
        raise ApiError(
            409, "request_in_progress", "the original request is still in progress", headers={"Retry-After": "1"}
        )
    return Accepted(existing, replayed=True)


def _result(outcome: EditOutcome) -> EditResult:
    """An edit's result; its refusal raised, as the single-edit functions of ``tenants.edit`` would."""
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _reflected(fleet: Fleet, job: Job) -> bool:
    """Whether a pending job's change is in the fleet file (a new tenant: as it was asked for)."""
    try:
        tenant = fleet.tenant(job.tenant_id)
    except KeyError:
        return False
    if job.kind != "create":
        return tenant.state == TARGET_STATE[job.kind]
    asked = job.request
    if "retry_of" in asked:
        return True
    return all(getattr(tenant, key) == asked[key] for key in CHECKED_FIELDS if key in asked)


def fleet_details(exc: FleetError) -> list[str]:
    """A refused fleet's problems, each as ``field: message`` for the tenant being changed."""
    out = []
    for problem in exc.problems:
        path = problem.path
        if len(path) >= 2 and path[0] == "tenants" and isinstance(path[1], int):
            where = format_path(path[2:]) if len(path) > 2 else "tenant"
        else:
            where = format_path(path)
        out.append(f"{where}: {problem.message}")
    return out


def _refusal(exc: Exception) -> ApiError | None:
    """The API error for a refused change; None for anything else (a 500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, FleetError):
        details = fleet_details(exc)
        return ApiError(422, "invalid_tenant", "; ".join(details), details=details)
    if isinstance(exc, DuplicateTenant):
        return ApiError(409, "tenant_exists", _one_line(exc))
    if isinstance(exc, UnknownTenant):
        return ApiError(404, "tenant_not_found", _one_line(exc))
    if isinstance(exc, EditError):
        return ApiError(409, "edit_refused", _one_line(exc))
    return None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:500] or type(exc).__name__
