"""Group commit of the edits of one fleet file: many requests, one validation and one write."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

from tenants.edit import Edit, EditOutcome, apply_edits
from tenants.model import Fleet


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

    @property
    def waiting(self) -> int:
        """How many edits are handed in and not yet taken by the writer (tests, metrics)."""
        with self._cond:
            return len(self._waiting)

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
