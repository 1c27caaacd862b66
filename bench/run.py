"""`make bench`: every benchmark in one run; writes bench/results.json and bench/RESULTS.md."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

# `make bench` runs this file by its path: the checkout's root on sys.path makes `bench` importable.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import data, docker_runtime, edge, egress, engine_runtime, model_gateway, program_eval, signup_load  # noqa: E402
from bench.bench_diff import measure as diff_measure  # noqa: E402
from bench.report import write_report  # noqa: E402


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_kib = int(
        next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    )
    docker_version = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "docker_engine": docker_version or "none",
    }


def engine_build() -> dict[str, Any]:
    """A second run of the engine build: it should only check its stamps."""
    start = time.monotonic()
    subprocess.run(["bash", str(ROOT / "scripts" / "ensure-pulumi.sh")], check=True, timeout=3600)
    return {"engine_cached_ensure_s": round(time.monotonic() - start, 1)}


PARTS: dict[str, tuple[str, Callable[[], Mapping[str, object]]]] = {
    "eval": ("program evaluation", program_eval.measure),
    "diff": ("validate + diff", diff_measure),
    "signup": ("signup service", signup_load.measure),
    "gateways": ("real gateways", docker_runtime.measure),
    "engine": ("real Pulumi engine", engine_runtime.measure),
    "models": ("model gateway", model_gateway.measure),
    "egress": ("egress filter", egress.measure),
    "edge": ("edge proxy", edge.measure),
    "data": ("tenant data", data.measure),
    "build": ("engine build, cached", engine_build),
}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the benchmarks and rewrite bench/RESULTS.md.")
    parser.add_argument(
        "parts",
        nargs="*",
        choices=[[], *PARTS],
        metavar="PART",
        help=f"run only these ({', '.join(PARTS)}) and keep the other figures of bench/results.json; default: all",
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    started = time.monotonic()
    store = ROOT / "bench" / "results.json"
    results: dict[str, Any] = json.loads(store.read_text()) if args.parts and store.exists() else {}
    results.update(
        {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine()},
    )
    for key in args.parts or PARTS:
        name, step = PARTS[key]
        print(f"== {name}", flush=True)
        results.update(step())
    results["bench_wall_s"] = round(time.monotonic() - started, 1)
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    write_report(results, ROOT / "bench" / "RESULTS.md")
    print(f"wrote bench/results.json and bench/RESULTS.md in {results['bench_wall_s']} s")


if __name__ == "__main__":
    main()
