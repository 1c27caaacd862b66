"""Real gateways on the local engine: seconds from container start to ready, and idle memory.

Deploys through the real Pulumi engine with the end-to-end images, so what is measured is what `pulumi up` deploys.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import docker

from bench.figures import print_figures, record
from harness.deployment import Deployment, Fleetside
from harness.gateway_client import started
from harness.paths import E2E_FLEET_FILE
from harness.waiting import wait_until
from tenants.docker_specs import container_name
from tenants.load import parse_fleet
from tenants.model import Fleet

PORT = 18081
SETTLE_S = 20  # idle time after ready before memory is read


def bench_fleet(plan: str, count: int, profile: str) -> Fleet:
    """The end-to-end fleet file, retargeted: `count` tenants of `plan` in the given profile."""
    text = E2E_FLEET_FILE.read_text().split("tenants:\n")[0]
    text = text.replace("  e2e:\n", "  bench:\n").replace("target: e2e", "target: bench")
    text = text.replace("port: 18080", f"port: {PORT}, subnet: 10.255.252.0/24").replace(
        "overcommit: {cpu: 4}", "overcommit: {cpu: 16, memory: 4}"
    )
    text = text.replace("memory_gib: 24", "memory_gib: 64")
    # The benchmark daemon has scripts/ensure-docker.sh's /28 pools, not the default 30 networks.
    text = text.replace("networks: 30", "networks: 4096")
    tenants = "".join(f"  - id: bench-{plan}-{i}\n    plan: {plan}\n" for i in range(count))
    fleet = parse_fleet(text + "tenants:\n" + tenants, "bench fleet")
    plans = {**fleet.plans, plan: fleet.plans[plan].model_copy(update={"profile": profile})}
    return fleet.model_copy(update={"plans": plans})


def local_engine() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@contextmanager
def bench_stack(client: docker.DockerClient, fleet: Fleet, prefix: str) -> Iterator[Deployment]:
    """A new stack in a temporary directory; at the end it is destroyed and forgotten, and ``fleet``'s
    containers, networks and volumes are removed."""
    stack = Deployment(Path(tempfile.mkdtemp(prefix=prefix)), f"bench-{uuid.uuid4().hex[:8]}")
    try:
        yield stack
    finally:
        stack.teardown(Fleetside(client), fleet)


def idle_memory_mib(client: docker.DockerClient, name: str) -> float:
    stats = client.containers.get(name).stats(stream=False)
    assert isinstance(stats, dict)  # stream=False: one reading, not a stream of them
    memory = stats["memory_stats"]
    inactive = memory.get("stats", {}).get("inactive_file", 0)
    return float(memory["usage"] - inactive) / 2**20


def run_case(client: docker.DockerClient, plan: str, count: int, profile: str) -> dict[str, float]:
    fleet = bench_fleet(plan, count, profile)
    side = Fleetside(client)
    with bench_stack(client, fleet, "bench-runtime-") as stack:
        stack.apply(fleet)
        ready = []
        for tenant in fleet.tenants:
            wait_until(partial(started, PORT, f"{tenant.id}.{fleet.domain}"), timeout_s=300)
            ready.append(side.seconds_since_start(container_name(tenant.id)))
        time.sleep(SETTLE_S)
        memory = [idle_memory_mib(client, container_name(t.id)) for t in fleet.tenants]
        return {
            "ready_s_median": round(statistics.median(ready), 1),
            "ready_s_max": round(max(ready), 1),
            "idle_mib_median": round(statistics.median(memory), 0),
        }


def measure(
    plans: tuple[str, ...] = ("basic", "pro", "enterprise"), counts: tuple[int, ...] = (1, 5)
) -> dict[str, object]:
    client = local_engine()
    results: dict[str, object] = {}
    for plan in plans:
        for count in counts:
            for profile in ("standard", "lean") if plan == "basic" else ("standard",):
                record(results, f"docker_{plan}_{count}x_{profile}", run_case(client, plan, count, profile))
    return results


if __name__ == "__main__":
    print_figures(measure())
