"""The real Pulumi engine on the local Docker engine: preview and up wall time by fleet size.

For 1, 10 and 30 tenants: a first `preview` (everything to create), the `up`, then a no-op
`preview` (the figure that grows with every stack), and that no-op preview per resource, to set
against the ~25 ms per resource Pulumi users report (about 4 minutes for a 1,300-resource preview).
A 2-core, 24 GiB machine cannot hold 30 idle gateways (about 650 MiB each), so past ten tenants
the rest are suspended: each still has its network, volume and token (3 of an active tenant's 6
resources, plus its edge link), which is what the engine's per-resource cost is about.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docker_runtime import bench_fleet  # noqa: E402
from tests.engine.deployment import Deployment, Fleetside  # noqa: E402

MAX_ACTIVE = 10


def timed(action: Any) -> tuple[float, Any]:
    start = time.monotonic()
    result = action()
    return time.monotonic() - start, result


def run_case(client: docker.DockerClient, count: int) -> dict[str, float]:
    fleet = bench_fleet("basic", count, "standard")
    tenants = tuple(
        t if i < MAX_ACTIVE else t.model_copy(update={"state": "suspended"}) for i, t in enumerate(fleet.tenants)
    )
    fleet = fleet.model_copy(update={"tenants": tenants})
    side = Fleetside(client)
    stack = Deployment(Path(tempfile.mkdtemp(prefix="bench-engine-")), f"bench-{uuid.uuid4().hex[:8]}")
    try:
        first_preview, _ = timed(lambda: stack.preview(fleet=fleet))
        up, _ = timed(lambda: stack.apply(fleet))
        noop, _ = timed(lambda: stack.preview(expect_no_changes=True))
        resources = len(stack.stack().export_stack().deployment["resources"])
        return {
            "tenants": count,
            "active": min(count, MAX_ACTIVE),
            "resources": resources,
            "first_preview_s": round(first_preview, 1),
            "up_s": round(up, 1),
            "noop_preview_s": round(noop, 1),
            "noop_preview_ms_per_resource": round(1000 * noop / resources, 1),
        }
    finally:
        stack.teardown(side, fleet)


def measure(counts: tuple[int, ...] = (1, 10, 30)) -> dict[str, object]:
    client = docker.from_env(timeout=120)
    results: dict[str, object] = {}
    for count in counts:
        case = run_case(client, count)
        for metric, value in case.items():
            results[f"engine_{count}t_{metric}"] = value
        print(f"engine, {count} tenants: {case}", flush=True)
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=1))
