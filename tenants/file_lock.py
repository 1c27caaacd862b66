"""An exclusive lock on a file shared by the threads of one process and by other processes.

Threads of one process first queue on a lock of their own (a blocking wait, not polling), so a busy
service hands the file from one edit to the next without starving any; processes then meet on an
``flock`` of the sidecar ``<file>.lock``.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .edit_errors import EditError

FIRST_RETRY_S = 0.002
LONGEST_RETRY_S = 0.05


@contextmanager
def locked(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` for the block; wait at most ``timeout_s`` for it.

    The sidecar is never deleted (deleting it would let two editors lock two different files). Raises
    :class:`tenants.edit_errors.EditError` when the lock is not free in time or its file cannot be opened.
    """
    path = Path(path)
    lock_path = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + max(timeout_s, 0.0)

    def timed_out() -> EditError:
        return EditError(
            f"{path} is being edited by someone else: gave up waiting for {lock_path} after {timeout_s:g} s; try again"
        )

    in_process = _thread_lock(os.path.realpath(lock_path))
    if not in_process.acquire(timeout=max(timeout_s, 0.0)):
        raise timed_out()
    try:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise EditError(f"cannot open the lock file {lock_path}: {exc.strerror or exc}") from None
        try:
            delay = FIRST_RETRY_S
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise timed_out() from None
                    time.sleep(min(remaining, delay * (0.5 + random.random())))  # jitter only
                    delay = min(delay * 2, LONGEST_RETRY_S)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        in_process.release()


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(key: str) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(key, threading.Lock())


def _after_fork_in_child() -> None:
    """A forked child starts with no thread holding a lock."""
    global _THREAD_LOCKS_GUARD  # noqa: PLW0603 - replaced, not shared with the parent
    _THREAD_LOCKS_GUARD = threading.Lock()
    _THREAD_LOCKS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
