"""How the benchmarks report: a case's figures under one key prefix with a line of progress, and a
benchmark run alone (``python -m bench.<name>``) prints its figures as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping


def record(figures: dict[str, object], key: str, case: Mapping[str, object]) -> None:
    """``case``'s figures into ``figures`` as ``<key>_<metric>``, and one line of progress."""
    figures.update({f"{key}_{metric}": value for metric, value in case.items()})
    print(f"{key}: {dict(case)}", flush=True)


def print_figures(figures: Mapping[str, object]) -> None:
    print(json.dumps(figures, indent=1))
