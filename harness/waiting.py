"""Bounded polling: every wait of the tests and the benchmarks ends, by success or by a timeout."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> float:
    """Poll ``check`` until it holds; return the seconds it took. Bounded by ``timeout_s``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"condition not met within {timeout_s:.0f}s")
        time.sleep(interval_s)
    return time.monotonic() - start
