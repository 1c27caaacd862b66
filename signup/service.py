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
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NoReturn

from tenants.contract import TRANSITIONS, JobKind, StateAction, TenantState
from tenants.edit import DuplicateTenant, Edit, EditOutcome, EditResult
from tenants.edit_errors import taken_id
from tenants.errors import FleetError
from tenants.load import load_fleet
from tenants.model import Fleet, Tenant
from tenants.placement import shard_for_new_tenant
from tenants.tenant_ids import generate_id

from .config import ServiceConfig
from .edit_queue import EditQueue
from .errors import ApiError, refusal
from .fleet_cache import FleetCache
from .gitcommit import commit_file
from .runner import StackRunner
from .schemas import CreateTenant
from .store import DuplicateKeyError, Job, JobStore
from .tokens import TokenVault, matches
from .worker import StackWorker

log = logging.getLogger("signup.service")

ID_ATTEMPTS = 20
EDIT_GATHER_MAX_S = 0.05  # how long the fleet writer may wait for edits of requests already being handled
CHECKED_FIELDS = ("plan", "model_provider", "target", "shard", "channel")

Apply = Callable[[str], tuple[str, str]]  # pending job id → (tenant id, shard), after editing the file


@dataclass(frozen=True)
class Accepted:
    job: Job
    replayed: bool  # an Idempotency-Key retry: the original job, nothing done again


class SignupService:
    def __init__(self, config: ServiceConfig, store: JobStore, runner: StackRunner) -> None:
        self.config = config
        self.store = store
        self.runner = runner
        self.vault = TokenVault()
        self.fleets = FleetCache(config.fleet_file)
        self.edits = EditQueue(
            config.fleet_file,
            lock_timeout_s=config.lock_timeout_s,
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
                    batch_window_s=self.config.batch_window_s,
                    batch_max_wait_s=self.config.batch_max_wait_s,
                    writing=self._writing_count,
                    busy_retries=self.config.busy_retries,
                    busy_backoff_s=self.config.busy_backoff_s,
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
            fleet = load_fleet(self.config.fleet_file)
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

    def change_state(self, client: str, tenant_id: str, action: StateAction, key: str | None) -> Accepted:
        state = TRANSITIONS[action].state
        return self._accept(
            client, key, action, {"tenant_id": tenant_id}, lambda job_id: self._set_state(job_id, tenant_id, state)
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
        state = _target_state(original.kind)
        if state is None:

            def apply(new_id: str) -> tuple[str, str]:
                tenant = self._tenant(self._fleet(), original.tenant_id)
                self._pending(new_id, original.tenant_id, tenant.shard)
                return tenant.id, tenant.shard

        else:

            def apply(new_id: str) -> tuple[str, str]:
                return self._set_state(new_id, original.tenant_id, state)

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
        if self.config.git_commit:
            message = f"signup: {kind} tenant {tenant_id}\n\nJob: {job.id}\nRequested-by: {client}\n"
            reason = commit_file(self.config.fleet_file, message)
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
        error = refusal(exc)
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
        stack = self.config.stack_for(shard)
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
            if body.id is not None and (taken := _taken(fleet, body.id)) is not None:
                raise taken
            tenant_id = body.id or generate_id(fleet, self.config.id_prefix)
            shard = shard_for_new_tenant(fleet, body.target, body.shard)
            self._pending(job_id, tenant_id, shard)  # before the edit: a restart can then find it in the file
            outcome = self.edits.apply(Edit.add(body.fields(tenant_id, shard, fleet.defaults.shard)))
            if isinstance(outcome, DuplicateTenant) and body.id is None:
                continue  # another signup took the generated id first; generate again
            result = _result(outcome)
            if result.tenant.shard != shard:
                self._pending(job_id, result.tenant.id, result.tenant.shard)
            return result.tenant.id, result.tenant.shard
        raise ApiError(503, "busy", "could not allocate a tenant id; retry", headers={"Retry-After": "1"})

    def _set_state(self, job_id: str, tenant_id: str, state: TenantState) -> tuple[str, str]:
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


def _taken(fleet: Fleet, tenant_id: str) -> ApiError | None:
    """The refusal of an explicit id the file has: 409 ``tenant_exists``, or ``tenant_retired`` for an
    offboarded tenant's (its data still exists)."""
    tenant = next((t for t in fleet.tenants if t.id == tenant_id), None)
    if tenant is None:
        return None
    return refusal(taken_id(tenant.id, tenant.state, tenant.target))


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
    state = _target_state(job.kind)
    if state is not None:
        return tenant.state == state
    asked = job.request
    if "retry_of" in asked:
        return True
    return all(getattr(tenant, key) == asked[key] for key in CHECKED_FIELDS if key in asked)


def _target_state(kind: JobKind) -> TenantState | None:
    """The state a job's change leads to; None for a create (a new tenant is in the state it asked for)."""
    return None if kind == "create" else TRANSITIONS[kind].state
