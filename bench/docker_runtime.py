"""Real gateways on the local engine: seconds from container start to ready, and idle memory.

Deploys through the real Pulumi engine with the end-to-end images, so what is measured is what `pulumi up` deploys.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tenants.docker_specs import container_name  # noqa: E402
from tenants.load import parse_fleet  # noqa: E402
from tenants.model import Fleet  # noqa: E402
from tests.e2e.gateway_client import started  # noqa: E402
from tests.e2e.waiting import wait_until  # noqa: E402
from tests.engine.deployment import Deployment, Fleetside  # noqa: E402

PORT = 18081
SETTLE_S = 20  # idle time after ready before memory is read


def bench_fleet(plan: str, count: int, profile: str) -> Fleet:
    """The end-to-end fleet file, retargeted: `count` tenants of `plan` in the given profile."""
    text = (ROOT / "tests" / "e2e" / "fleet.yaml").read_text().split("tenants:\n")[0]
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


def idle_memory_mib(client: docker.DockerClient, name: str) -> float:
    stats = client.containers.get(name).stats(stream=False)["memory_stats"]
    inactive = stats.get("stats", {}).get("inactive_file", 0)
    return (stats["usage"] - inactive) / 2**20


def run_case(client: docker.DockerClient, plan: str, count: int, profile: str) -> dict[str, float]:
    fleet = bench_fleet(plan, count, profile)
    side = Fleetside(client)
    directory = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    applier = Deployment(directory, f"bench-{uuid.uuid4().hex[:8]}")
    try:
        applier.apply(fleet)
        ready = []
        for tenant in fleet.tenants:
            host = f"{tenant.id}.{fleet.domain}"
            wait_until(lambda host=host: started(PORT, host), timeout_s=300)
            ready.append(side.seconds_since_start(container_name(tenant.id)))
        time.sleep(SETTLE_S)
        memory = [idle_memory_mib(client, container_name(t.id)) for t in fleet.tenants]
        return {
            "ready_s_median": round(statistics.median(ready), 1),
            "ready_s_max": round(max(ready), 1),
            "idle_mib_median": round(statistics.median(memory), 0),
        }
    finally:
        applier.teardown(side, fleet)


def measure(
    plans: tuple[str, ...] = ("basic", "pro", "enterprise"), counts: tuple[int, ...] = (1, 5)
) -> dict[str, object]:
    client = docker.from_env(timeout=120)
    results: dict[str, object] = {}
    for plan in plans:
        for count in counts:
            for profile in ("standard", "lean") if plan == "basic" else ("standard",):
                case = run_case(client, plan, count, profile)
                key = f"docker_{plan}_{count}x_{profile}"
                for metric, value in case.items():
                    results[f"{key}_{metric}"] = value
                print(f"{key}: {case}", flush=True)
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=1))
