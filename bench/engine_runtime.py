"""The real Pulumi engine on the local Docker engine: preview and up wall time by fleet size.

For 1, 10 and 30 tenants: a first `preview` (everything to create), the `up`, then a no-op
`preview` (the figure that grows with every stack), and that no-op preview per resource, to set
against the ~25 ms per resource Pulumi users report (about 4 minutes for a 1,300-resource preview).
A 2-core, 24 GiB machine cannot hold 30 idle gateways (about 650 MiB each), so past ten tenants
the rest are suspended: each still has its network, volume and token (3 of an active tenant's 6
resources, plus its edge link), which is what the engine's per-resource cost is about.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import docker

from bench.docker_runtime import bench_fleet, bench_stack, local_engine
from bench.figures import print_figures, record

MAX_ACTIVE = 10


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    start = time.monotonic()
    action()
    return time.monotonic() - start


def run_case(client: docker.DockerClient, count: int) -> dict[str, float]:
    fleet = bench_fleet("basic", count, "standard")
    tenants = tuple(
        t if i < MAX_ACTIVE else t.model_copy(update={"state": "suspended"}) for i, t in enumerate(fleet.tenants)
    )
    fleet = fleet.model_copy(update={"tenants": tenants})
    with bench_stack(client, fleet, "bench-engine-") as stack:
        first_preview = timed(lambda: stack.preview(fleet=fleet))
        up = timed(lambda: stack.apply(fleet))
        noop = timed(lambda: stack.preview(expect_no_changes=True))
        state = stack.stack().export_stack().deployment
        assert state is not None, "the stack has no state after an up"
        resources = len(state["resources"])
        return {
            "tenants": count,
            "active": min(count, MAX_ACTIVE),
            "resources": resources,
            "first_preview_s": round(first_preview, 1),
            "up_s": round(up, 1),
            "noop_preview_s": round(noop, 1),
            "noop_preview_ms_per_resource": round(1000 * noop / resources, 1),
        }


def measure(counts: tuple[int, ...] = (1, 10, 30)) -> dict[str, object]:
    client = local_engine()
    results: dict[str, object] = {}
    for count in counts:
        record(results, f"engine_{count}t", run_case(client, count))
    return results


if __name__ == "__main__":
    print_figures(measure())
