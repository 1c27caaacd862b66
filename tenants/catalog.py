"""Built-in plans and channels: the one place their defaults live.

A fleet file may override any field of a built-in plan or define new plans; it is merged
over these before validation.
"""

from __future__ import annotations

from typing import Any

BUILTIN_PLANS: dict[str, dict[str, Any]] = {
    # An idle gateway uses ~650 MiB; upstream recommends 2 GiB, and 512 MiB is too small.
    "basic": {
        "cpus": 1,
        "memory_gib": 2,
        "storage_gib": 5,
        "max": {"cpus": 2, "memory_gib": 4, "storage_gib": 20},
        "pids_limit": 512,
        "rate_limit_rps": 10,
        "burst": 20,
        "monthly_price": "29.00",
    },
    "pro": {
        "cpus": 2,
        "memory_gib": 4,
        "storage_gib": 20,
        "max": {"cpus": 4, "memory_gib": 8, "storage_gib": 100},
        "pids_limit": 1024,
        "rate_limit_rps": 30,
        "burst": 60,
        "monthly_price": "99.00",
    },
    "enterprise": {
        "cpus": 4,
        "memory_gib": 8,
        "storage_gib": 100,
        "max": {"cpus": 16, "memory_gib": 32, "storage_gib": 1000},
        "pids_limit": 2048,
        "rate_limit_rps": 100,
        "burst": 200,
        "monthly_price": "499.00",
    },
}

# Plain OpenClaw version tags are immutable; each channel pins one.
BUILTIN_CHANNELS: dict[str, str] = {
    "stable": "2026.9.6",
    "canary": "2026.9.6",
}
