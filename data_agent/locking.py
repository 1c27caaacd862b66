"""Advisory file locks with a bounded wait: the serve loop and commands run with `docker exec` share one
agent, and two of them must never stop the same gateway or prune under each other's backup."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class LockTimeout(RuntimeError):  # noqa: N818
    """Another process held the lock for the whole wait."""


@contextmanager
def file_lock(path: Path, timeout_s: float, what: str, interval_s: float = 0.2) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"{what} still running after {timeout_s:.0f}s") from None
                time.sleep(interval_s)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
