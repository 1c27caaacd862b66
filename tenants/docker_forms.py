"""Values in the exact form the Docker provider reads them back, so a refresh never shows a diff.

The provider stores what the daemon reports: CPUs as a decimal string (``1.0``, ``1.5``) and
durations in Go's notation (``1m30s``). Sending ``"1"`` or ``"90s"`` would look like a change on
every refresh, and ``cpus`` is create-only: every container would be replaced.
"""

from __future__ import annotations

from decimal import Decimal

NANO = Decimal(10) ** 9


def cpus(value: float) -> str:
    """What the provider makes of the container's NanoCPUs: nine decimals, trailing zeros trimmed."""
    nano = int(Decimal(str(value)) * NANO)
    if nano == 0:
        return "0"
    text = f"{Decimal(nano) / NANO:.9f}"
    if text.count("0") == 9:  # the provider's own test for a "round" value
        return f"{Decimal(nano) / NANO:.1f}"
    return text.rstrip("0")


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
