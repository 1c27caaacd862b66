"""One worker thread per stack: every job queued while it was busy becomes one ``pulumi up``.

The fleet edits of the jobs are already in tenants.yaml when they are queued, so the worker only claims
the stack's queued jobs (all of them, atomically), runs one update, and marks the batch. Before it
claims, it waits ``batch_window_s``, and then as long as changes of its stack are still being written
into tenants.yaml (at most ``batch_max_wait_s`` in all): the file edits of a burst of signups are
serialised by the file lock, so without this wait a burst would trickle into many small updates. It is the only
thing in this process that updates its stack, so there are never two updates of one stack at once; an
update held up by someone else's (``ConcurrentUpdateError``) is retried with exponential backoff.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable

from pulumi.automation import ConcurrentUpdateError

from .runner import StackRunner, UpdateError, UpResult
from .store import Completion, Job, JobStore
from .tokens import TokenVault, digest

log = logging.getLogger("signup.worker")

MAX_BACKOFF_S = 60.0
IDLE_POLL_S = 5.0  # picks up jobs another process queued on the same database
GATHER_POLL_S = 0.05


class _StopRequestedError(Exception):
    """The service is stopping during a backoff: the batch stays running and is queued again on start."""


class StackWorker:
    def __init__(
        self,
        stack: str,
        *,
        store: JobStore,
        runner: StackRunner,
        vault: TokenVault,
        batch_window_s: float = 0.2,
        batch_max_wait_s: float = 5.0,
        busy_retries: int = 5,
        busy_backoff_s: float = 2.0,
        writing: Callable[[str], int] = lambda stack: 0,
    ) -> None:
        self.stack = stack
        self.store = store
        self.runner = runner
        self.vault = vault
        self.batch_window_s = batch_window_s
        self.batch_max_wait_s = batch_max_wait_s
        self.writing = writing  # how many accepted-but-not-yet-queued changes of a stack are being written
        self.busy_retries = busy_retries
        self.busy_backoff_s = busy_backoff_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"signup-worker-{stack}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current update; an update still running after ``timeout`` keeps its jobs
        ``running``, and the next start queues them again."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(IDLE_POLL_S)
            self._wake.clear()
            if self._stopping.is_set():
                return
            self._gather()
            try:
                if self.run_once():
                    self._wake.set()  # more may have been queued meanwhile: gather again, then claim
            except Exception:
                log.exception("worker of stack %s: store error; retrying in 1 s", self.stack)
                self._stopping.wait(1.0)
                self._wake.set()

    def _gather(self) -> None:
        """Let a burst of changes gather into one update (see the module docstring)."""
        deadline = time.monotonic() + max(self.batch_max_wait_s, self.batch_window_s)
        if self.batch_window_s > 0:
            self._stopping.wait(self.batch_window_s)
        while self.writing(self.stack) > 0 and time.monotonic() < deadline and not self._stopping.is_set():
            self._stopping.wait(GATHER_POLL_S)

    def run_once(self) -> int:
        """Claim every queued job of the stack and run one update for them; the number of jobs run."""
        update_id = f"u-{uuid.uuid4().hex[:12]}"
        jobs = self.store.claim(self.stack, update_id)
        if not jobs:
            return 0
        log.info("stack %s: update %s for %d job(s)", self.stack, update_id, len(jobs))
        result: UpResult | None = None
        error: str | None = None
        try:
            result = self._up()
        except _StopRequestedError:
            log.warning("stack %s: stopping; update %s left to the next start", self.stack, update_id)
            return 0
        except UpdateError as exc:
            error = exc.summary
        except ConcurrentUpdateError:
            error = f"stack {self.stack!r} stayed busy with another update after {self.busy_retries} retries"
        except Exception as exc:  # a runner bug must fail its jobs, not the worker
            log.exception("stack %s: update %s crashed", self.stack, update_id)
            error = f"the update could not run ({type(exc).__name__}); see the server log"
        detail = f"update {update_id}: " + (result.summary if result else error or "")
        self.store.complete([self._completion(job, result, error, detail) for job in jobs])
        return len(jobs)

    def _up(self) -> UpResult:
        attempt = 0
        while True:
            try:
                return self.runner.up(self.stack)
            except ConcurrentUpdateError:
                if attempt >= self.busy_retries:
                    raise
            delay = min(MAX_BACKOFF_S, self.busy_backoff_s * 2**attempt) * random.uniform(0.5, 1.0)
            log.warning("stack %s is busy with another update; retry %d in %.1f s", self.stack, attempt + 1, delay)
            attempt += 1
            if self._stopping.wait(delay):
                raise _StopRequestedError

    def _completion(self, job: Job, result: UpResult | None, error: str | None, detail: str) -> Completion:
        if result is None:
            return Completion(job.id, "failed", error=error, detail=detail)
        token_sha = None
        if job.kind == "create":
            token = result.tokens.get(job.tenant_id)
            if token:
                self.vault.put(job.id, token)
                token_sha = digest(token)
        return Completion(
            job.id, "succeeded", url=result.urls.get(job.tenant_id), token_sha256=token_sha, detail=detail
        )
