"""Program evaluation under Pulumi's mock runtime: ms per tenant, against a direct baseline,
and the resources each tenant costs."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from harness.fleets import BACKENDS, fleet_yaml, uniform_fleet
from harness.paths import ROOT
from harness.program_run import ProgramRun, run_program

BASELINE = ROOT / "bench" / "baseline_program.py"


def timed(path: Path, program: Path, runs: int) -> tuple[list[float], ProgramRun]:
    times: list[float] = []
    last: ProgramRun | None = None
    for _ in range(runs):
        start = time.perf_counter()
        last = run_program(path, program=program)
        times.append(time.perf_counter() - start)
    assert last is not None
    return times, last


def per_tenant_resources(run: ProgramRun, tenants: int) -> dict[str, float]:
    """Custom resources under the tenant components, by type, per tenant."""
    stacks = {r.urn for r in run.resources if r.type == "openclaw:index:TenantStack"}
    counts = Counter(r.type for r in run.resources if r.custom and r.parent in stacks)
    return {t: n / tenants for t, n in sorted(counts.items())}


def measure(sizes: tuple[int, ...] = (10, 100, 1000), runs: int = 2) -> dict[str, object]:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in BACKENDS:
            warm = Path(tmp) / f"{backend}-warm-up.yaml"
            warm.write_text(fleet_yaml(uniform_fleet(10, backend)))
            for program in (ROOT / "__main__.py", BASELINE):
                run_program(warm, program=program)  # imports and first-run costs stay out of the figures
            for n in sizes:
                path = Path(tmp) / f"{backend}-{n}.yaml"
                path.write_text(fleet_yaml(uniform_fleet(n, backend)))
                ours, run = timed(path, ROOT / "__main__.py", runs)
                base, _ = timed(path, BASELINE, runs)
                key = f"{backend}_{n}"
                results[f"eval_ms_per_tenant_{key}"] = round(statistics.median(ours) / n * 1000, 3)
                results[f"eval_baseline_ms_per_tenant_{key}"] = round(statistics.median(base) / n * 1000, 3)
                results[f"eval_ratio_{key}"] = round(statistics.median(ours) / statistics.median(base), 3)
                results[f"eval_seconds_{key}"] = [
                    round(min(ours), 3),
                    round(statistics.median(ours), 3),
                    round(max(ours), 3),
                ]
                if n == sizes[-1]:
                    by_type = per_tenant_resources(run, n)
                    results[f"resources_per_tenant_{backend}"] = round(sum(by_type.values()), 2)
                    results[f"resources_per_tenant_{backend}_by_type"] = by_type
                print(
                    f"{key}: ours {statistics.median(ours):.2f}s, baseline {statistics.median(base):.2f}s", flush=True
                )
    return results


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=1))
