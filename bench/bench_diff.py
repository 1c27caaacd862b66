"""How long `tenantctl diff` takes on two 10,000-tenant fleets: read + validate both, then diff.

    .venv/bin/python -m bench.bench_diff [--tenants N] [--runs N] [--sequential]

Generates a fleet (harness/fleets.py) and an edited copy (adds, removals, state and plan changes),
writes both to a temporary directory, then times, with time.perf_counter, what `tenantctl diff`
does after parsing its options: read both files, validate both (``load_pair``: in two processes
when they are large), diff. One warm-up run, then ``--runs`` measured runs; prints min / median /
max and writes nothing else (the temporary files are removed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness.fleets import fleet_yaml, generate_fleet, mutate_fleet
from tenants.diff import diff_fleets
from tenants.fleet_pair import load_pair
from tenants.fleet_sources import read_fleet_text


def measure(tenants: int = 10_000, runs: int = 5, sequential: bool = False) -> dict[str, float]:
    """Median/min/max seconds of read + validate both + diff, after one warm-up run."""
    base_doc = generate_fleet(tenants, seed=0)
    head_doc, edits = mutate_fleet(
        base_doc, seed=1, add=50, remove=20, suspend=40, resume=30, offboard=20, upgrade=40, relabel=30
    )
    with tempfile.TemporaryDirectory() as tmp:
        base_file, head_file = Path(tmp, "base.yaml"), Path(tmp, "head.yaml")
        base_file.write_text(fleet_yaml(base_doc))
        head_file.write_text(fleet_yaml(head_doc))

        def once() -> float:
            start = time.perf_counter()
            base, head = read_fleet_text(str(base_file)), read_fleet_text(str(head_file))
            old, new = load_pair(base, head, parallel=False if sequential else None)
            result = diff_fleets(old, new, base_source=base.source, head_source=head.source)
            elapsed = time.perf_counter() - start
            assert len(result.tenants) == sum(edits.count().values()), len(result.tenants)
            return elapsed

        once()  # warm-up
        times = [once() for _ in range(runs)]
    return {
        "diff_min_s": round(min(times), 3),
        "diff_median_s": round(statistics.median(times), 3),
        "diff_max_s": round(max(times), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sequential", action="store_true", help="validate base and head in this process")
    args = parser.parse_args()
    figures = measure(args.tenants, args.runs, args.sequential)
    mode = "sequential" if args.sequential else "parallel when large"
    print(
        f"validate + diff of two {args.tenants:,}-tenant fleets ({mode}), {args.runs} runs: "
        f"min {figures['diff_min_s']:.3f} s, median {figures['diff_median_s']:.3f} s, max {figures['diff_max_s']:.3f} s"
    )


if __name__ == "__main__":
    main()
