"""The model gateway over a fake upstream: latency it adds, time to first streamed token, memory.

The gateway and the fake upstream (harness/fake_upstream.py) run as containers of the gateway's
image on an internal network of this benchmark's own; the client runs on the host and calls each
by its container address, the upstream directly and through the gateway, so the difference is what
the gateway adds (auth, policy, LiteLLM's translation, the durable ledger write).
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container

from bench.figures import print_figures, record
from harness import model_gateway_rig as gateway_rig
from harness.local_images import local_images
from harness.model_gateway_rig import address, put_file
from harness.waiting import wait_until
from model_gateway.registry import key_digest

ROOT = Path(__file__).resolve().parents[1]
SEQUENTIAL = 200
CONCURRENT = 50
STREAMED = 50
WARMUP = 20
SETTLE_S = 10.0
REGISTERED = 10_000
PROMPT = "Say something short about the sea, please."


def registry(keys: dict[str, str], extra: int = 0) -> bytes:
    tenants = {
        tenant: {
            "key_sha256": key_digest(key),
            "budget_usd": "1000000",
            "rpm": 1_000_000,
            "tpm": 1_000_000_000,
            "models": ["kimi-k2"],
        }
        for tenant, key in keys.items()
    }
    for i in range(extra):
        tenants[f"filler-{i:05d}"] = {
            "key_sha256": key_digest(f"filler-{i}"),
            "budget_usd": "10",
            "rpm": 60,
            "tpm": 100_000,
            "models": ["kimi-k2"],
        }
    return json.dumps({"version": 1, "tenants": tenants}).encode()


@dataclass
class Rig:
    gateway: Container
    upstream: Container
    key: str

    @property
    def gateway_url(self) -> str:
        return f"http://{address(self.gateway)}:4000/v1/chat/completions"

    @property
    def upstream_url(self) -> str:
        return f"http://{address(self.upstream)}:8080/v1/chat/completions"

    def memory_mib(self) -> float:
        """The gateway container's memory use without the page cache, as `docker stats` reports it."""
        raw: Any = self.gateway.stats(stream=False)
        stats: dict[str, Any] = raw["memory_stats"]
        detail: dict[str, int] = stats.get("stats", {})
        inactive = detail.get("inactive_file", detail.get("total_inactive_file", 0))
        return round((int(stats["usage"]) - inactive) / 2**20, 1)


def post(url: str, key: str, body: Mapping[str, object]) -> Callable[[], float]:
    data = json.dumps(body).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}

    def call() -> float:
        start = time.perf_counter()
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        return (time.perf_counter() - start) * 1000

    return call


def first_token(url: str, key: str) -> Callable[[], float]:
    body = {"model": "kimi-k2", "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    data = json.dumps(body).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}

    def call() -> float:
        start = time.perf_counter()
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        elapsed = float("nan")
        with urllib.request.urlopen(request, timeout=60) as response:
            for line in response:
                if b'"content": "' in line.replace(b'":"', b'": "') and b'"content": ""' not in line.replace(
                    b'":"', b'": "'
                ):
                    elapsed = (time.perf_counter() - start) * 1000
                    break
            response.read()
        return elapsed

    return call


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def sequential(call: Callable[[], float], count: int) -> list[float]:
    return [call() for _ in range(count)]


def concurrent(call: Callable[[], float], count: int) -> list[float]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


@contextmanager
def rig(client: docker.DockerClient, image: str) -> Iterator[Rig]:
    prefix = f"mgbench-{uuid.uuid4().hex[:8]}"
    network = client.networks.create(f"{prefix}-net", driver="bridge", internal=True)
    volume = client.volumes.create(f"{prefix}-ledger")
    created: list[Container] = []
    try:
        upstream = gateway_rig.fake_upstream(client, image, f"{prefix}-upstream", {})
        created.append(upstream)
        gateway_rig.only_on(network, client, upstream, ["upstream"])
        upstream.start()
        key = f"ocm-{secrets.token_urlsafe(24)}"
        gateway = gateway_rig.gateway(
            client,
            image,
            f"{prefix}-gateway",
            environment={"KIMI_API_KEY": f"sk-{secrets.token_hex(16)}"},
            volume=volume.name,
            labels={},
        )
        created.append(gateway)
        model = {
            "provider": "kimi",
            "api": "openai",
            "upstream_model": "kimi-k2-0905",
            "api_base": "http://upstream:8080/v1",
            "key_env": "KIMI_API_KEY",
            "input_usd_per_mtok": "0.60",
            "output_usd_per_mtok": "2.50",
        }
        put_file(
            gateway,
            "/etc/openclaw-models",
            "gateway.json",
            json.dumps({"version": 1, "models": {"kimi-k2": model}}).encode(),
        )
        put_file(gateway, "/etc/openclaw-models", "tenants.json", registry({"bench": key}))
        gateway_rig.only_on(network, client, gateway, [])
        gateway.start()
        bench = Rig(gateway, upstream, key)

        def alive() -> bool:
            try:
                with urllib.request.urlopen(f"http://{address(gateway)}:4000/health/liveliness", timeout=5) as r:
                    ok = r.status == 200
                with urllib.request.urlopen(f"http://{address(upstream)}:8080/_health", timeout=5) as r:
                    return ok and bool(r.status == 200)
            except OSError:
                return False

        wait_until(alive, 180.0)
        yield bench
    finally:
        for container in reversed(created):
            with suppress(docker.errors.NotFound):
                container.remove(force=True)
        network.remove()
        volume.remove(force=True)


def added(direct: list[float], through: list[float]) -> dict[str, float]:
    return {
        "direct_p50_ms": quantile(direct, 0.5),
        "direct_p99_ms": quantile(direct, 0.99),
        "gateway_p50_ms": quantile(through, 0.5),
        "gateway_p99_ms": quantile(through, 0.99),
        "added_p50_ms": round(quantile(through, 0.5) - quantile(direct, 0.5), 2),
        "added_p99_ms": round(quantile(through, 0.99) - quantile(direct, 0.99), 2),
    }


def build_image() -> str:
    return local_images()["model_gateway"]


def measure() -> dict[str, object]:
    client = docker.from_env(timeout=120)
    image = build_image()
    results: dict[str, object] = {}
    with rig(client, image) as bench:
        body = {"model": "kimi-k2", "messages": [{"role": "user", "content": PROMPT}]}
        through = post(bench.gateway_url, bench.key, body)
        direct = post(bench.upstream_url, "sk-direct", body)
        sequential(through, WARMUP)
        sequential(direct, WARMUP)
        time.sleep(SETTLE_S)
        record(results, "models_idle", {"memory_mib": bench.memory_mib()})
        record(results, "models_sequential", added(sequential(direct, SEQUENTIAL), sequential(through, SEQUENTIAL)))
        record(results, "models_concurrent", added(concurrent(direct, CONCURRENT), concurrent(through, CONCURRENT)))
        ttft_direct = sequential(first_token(bench.upstream_url, "sk-direct"), STREAMED)
        ttft_through = sequential(first_token(bench.gateway_url, bench.key), STREAMED)
        record(
            results,
            "models_first_token",
            {
                "direct_p50_ms": quantile(ttft_direct, 0.5),
                "gateway_p50_ms": quantile(ttft_through, 0.5),
                "added_p50_ms": round(quantile(ttft_through, 0.5) - quantile(ttft_direct, 0.5), 2),
                "added_p99_ms": round(quantile(ttft_through, 0.99) - quantile(ttft_direct, 0.99), 2),
            },
        )
        time.sleep(SETTLE_S)
        before = bench.memory_mib()
        put_file(bench.gateway, "/etc/openclaw-models", "tenants.json", registry({"bench": bench.key}, REGISTERED))
        sequential(through, 3)  # the first call after the rewrite loads the registry
        time.sleep(SETTLE_S)
        after = bench.memory_mib()
        record(
            results,
            "models_registry",
            {
                "tenants": REGISTERED,
                "memory_before_mib": before,
                "memory_after_mib": after,
                "per_100_tenants_kib": round((after - before) * 1024 / (REGISTERED / 100), 1),
                "reload_call_ms": round(statistics.median(sequential(through, 5)), 2),
            },
        )
    return results


if __name__ == "__main__":
    print_figures(measure())
