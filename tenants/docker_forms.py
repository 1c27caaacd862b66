"""Values in the exact form the Docker provider reads them back, so a refresh never shows a diff.

The provider stores durations in Go's notation (``1m30s``): sending ``"90s"`` would look like a
change on every refresh. CPUs go as a CFS quota, not as ``cpus``: the daemon refuses a ``cpus``
above the host's core count ("Range of CPUs is from 0.01 to 2.00"), so a plan's 4-CPU cap would
fail on a 2-core host, while a quota means "at most this much", whatever the host has.
"""

from __future__ import annotations

CPU_PERIOD_US = 100_000  # the kernel's default CFS period


def cpu_quota(cpus: float) -> int:
    """Microseconds of CPU time per period: 1.5 CPUs → 150000."""
    if cpus <= 0:
        raise ValueError(f"a CPU limit must be positive: {cpus}")
    return round(cpus * CPU_PERIOD_US)


def duration(seconds: int) -> str:
    """Go's ``time.Duration.String()`` for whole seconds: ``0s``, ``30s``, ``1m30s``, ``1h0m0s``."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
