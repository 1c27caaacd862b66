"""Generated fleets of any size for the benchmarks, on Docker hosts or one Kubernetes cluster."""

from __future__ import annotations

TENANTS_PER_HOST = 200
PLANS = ("basic", "pro", "enterprise")


def fleet_yaml(count: int, backend: str) -> str:
    lines = ["version: 1", "domain: tenants.example.com", "defaults:", "  model_provider: kimi", "targets:"]
    if backend == "docker":
        hosts = [f"host-{i:03d}" for i in range(max(1, -(-count // TENANTS_PER_HOST)))]
        for host in hosts:
            lines += [
                f"  {host}:",
                "    type: docker",
                f"    host: ssh://ops@{host}",
                "    capacity: {cpus: 256, memory_gib: 4096, networks: 4096}",
                "    overcommit: {cpu: 8}",
            ]
    else:
        hosts = ["cluster"]
        lines += [
            "  cluster:",
            "    type: kubernetes",
            "    context: bench",
            "    capacity: {cpus: 1000000, memory_gib: 10000000, storage_gib: 100000000}",
        ]
    lines.append("tenants:")
    for i in range(count):
        host = hosts[i // TENANTS_PER_HOST] if backend == "docker" else hosts[0]
        shard = host if backend == "docker" else "default"
        lines.append(f"  - {{id: t{i:05d}, plan: {PLANS[i % 3]}, target: {host}, shard: {shard}}}")
    return "\n".join(lines) + "\n"
