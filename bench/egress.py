"""The egress filter's cost: time added to a tenant's outbound connections, and the rules' size.

Measured on the tests' own Docker host (harness/netns_lab.py): one gateway container on a guarded
`internet` bridge makes fresh TCP connections and HTTP requests to the fake public server, first
with no egress table on the host (the baseline, same run), then with the filter's ruleset for that
bridge plus 99 and 999 other tenants' bridges. The rules' own cost comes from applying rulesets of
100 to 3,000 tenants in a scratch network namespace.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.egress_probe import node_output
from harness.local_images import local_images
from harness.netns_lab import PUBLIC, NetnsLab, enter
from tenants.egress_rules import GuardedBridge, bridge_name, render_ruleset, table_name
from tenants.model import DockerEgress

REQUESTS = 100  # per round
ROUNDS = 5
IMAGE_KEY = "openclaw"
NETWORK = "bench-egress"
TARGET = "bench"
TABLE = table_name(TARGET)

# New connection per request (agent: false): what the filter sees first is each connection's SYN.
CLIENT = """
const http = require("http");
const once = () => new Promise((done, fail) => {
  const start = process.hrtime.bigint();
  const req = http.get({ host: "PUBLIC", port: 443, path: "/", agent: false, timeout: 5000 }, (res) => {
    res.resume();
    res.on("end", () => done(Number(process.hrtime.bigint() - start) / 1e6));
  });
  req.on("timeout", () => req.destroy(new Error("timeout")));
  req.on("error", fail);
});
(async () => {
  const times = [];
  for (let i = 0; i < COUNT; i++) times.push(await once());
  console.log(JSON.stringify(times));
})();
""".replace("PUBLIC", PUBLIC).replace("COUNT", str(REQUESTS))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _apply(ns_prefix: list[str], ruleset: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".nft") as f:
        f.write(ruleset)
        f.flush()
        start = time.perf_counter()
        subprocess.run([*ns_prefix, "nft", "-f", f.name], check=True, timeout=120)
        return time.perf_counter() - start


def _ruleset(own: str, tenants: int) -> str:
    others = [GuardedBridge(bridge_name(TARGET, f"tenant-bench-{i:05d}"), "internet") for i in range(tenants - 1)]
    return render_ruleset(TARGET, (GuardedBridge(own, "internet"), *others), DockerEgress(mode="internet"))


def _slab_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Slab:"):
            return int(line.split()[1])
    return 0


def rules_cost() -> dict[str, Any]:
    """Apply time, text size and kernel memory of rulesets for 100 to 3,000 tenants (scratch netns)."""
    ns = "octbench-rules"
    subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    out: dict[str, Any] = {}
    try:
        prefix = enter(ns)
        for tenants in (100, 1000, 3000):
            ruleset = _ruleset(bridge_name(TARGET, "tenant-bench-own"), tenants)
            before = _slab_kib()
            seconds = [_apply(prefix, ruleset) for _ in range(3)]
            grown = max(0, _slab_kib() - before)
            out[f"egress_rules_apply_ms_{tenants}"] = round(statistics.median(seconds) * 1000, 1)
            out[f"egress_rules_kib_{tenants}"] = round(len(ruleset.encode()) / 1024, 1)
            out[f"egress_rules_slab_kib_{tenants}"] = grown
            subprocess.run([*prefix, "nft", "delete", "table", "inet", TABLE], check=True)
        out["egress_rules_kib_per_100"] = round(out["egress_rules_kib_3000"] / 30, 1)
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)
    return out


def latency() -> dict[str, Any]:
    images = local_images()
    lab = NetnsLab(Path(tempfile.mkdtemp(prefix="bench-egress-")))
    out: dict[str, Any] = {}
    try:
        lab.start()
        lab.load_images([images[IMAGE_KEY]])
        bridge = bridge_name(TARGET, NETWORK)
        with lab.client() as client:
            network = client.networks.create(
                NETWORK, driver="bridge", options={"com.docker.network.bridge.name": bridge}
            )
            container = client.containers.run(
                images[IMAGE_KEY], ["sleep", "3600"], entrypoint=[], network=NETWORK, detach=True, user="1000:1000"
            )
            try:

                def run() -> list[float]:
                    times: list[float] = json.loads(node_output(container, CLIENT).strip().splitlines()[-1])
                    return times

                # Rounds alternate between the cases, so load from elsewhere on the machine hits all alike.
                cases: dict[str, list[float]] = {"none": [], "100": [], "1000": []}
                for _ in range(ROUNDS):
                    for case in cases:
                        if case != "none":
                            _apply(enter("octlab-host"), _ruleset(bridge, int(case)))
                        cases[case] += run()
                        if case != "none":
                            subprocess.run([*enter("octlab-host"), "nft", "delete", "table", "inet", TABLE], check=True)
                base = cases["none"]
                out["egress_requests"] = REQUESTS * ROUNDS
                out["egress_direct_p50_ms"] = round(_pct(base, 0.5), 3)
                out["egress_direct_p99_ms"] = round(_pct(base, 0.99), 3)
                out["egress_direct_first_ms"] = round(statistics.median(base[::REQUESTS]), 3)
                for tenants in ("100", "1000"):
                    times = cases[tenants]
                    out[f"egress_filtered_{tenants}_p50_ms"] = round(_pct(times, 0.5), 3)
                    out[f"egress_filtered_{tenants}_p99_ms"] = round(_pct(times, 0.99), 3)
                    out[f"egress_filtered_{tenants}_first_ms"] = round(statistics.median(times[::REQUESTS]), 3)
                    out[f"egress_added_{tenants}_p50_ms"] = round(_pct(times, 0.5) - _pct(base, 0.5), 3)
                    out[f"egress_ratio_{tenants}_p50"] = round(_pct(times, 0.5) / _pct(base, 0.5), 3)
            finally:
                container.remove(force=True)
                network.remove()
    finally:
        lab.stop()
    return out


def measure() -> dict[str, Any]:
    return {**rules_cost(), **latency()}
