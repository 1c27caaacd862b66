"""Validating the two fleets of a review, both at once when they are large.

Loading the two fleets dominates the time of a review of a large fleet (YAML parsing is most of it),
so ``load_pair`` validates base and head in two processes at once when both are large.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import FleetError, Problem
from .load import gc_paused, parse_fleet
from .model import Fleet

if TYPE_CHECKING:
    from .fleet_sources import FleetText

# Below this much text both fleets are validated in this process: a worker costs more than it saves.
PARALLEL_MIN_CHARS = 200_000


class FleetPairError(Exception):
    """One or both fleets are invalid; ``render`` lists every problem of each."""

    def __init__(self, errors: Sequence[FleetError]) -> None:
        self.errors = tuple(errors)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(error.render() for error in self.errors)


@dataclass(frozen=True)
class _Invalid:
    source: str
    problems: tuple[Problem, ...]


def _parse(item: FleetText) -> Fleet | _Invalid:
    """``parse_fleet``, with its failure as data: a FleetError does not pickle, so its parts travel instead."""
    try:
        return parse_fleet(item.text, item.source)
    except FleetError as exc:
        return _Invalid(exc.source, tuple(exc.problems))


def _can_fork() -> bool:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return sys.platform == "linux" and cpus > 1 and "fork" in multiprocessing.get_all_start_methods()


def load_pair(base: FleetText, head: FleetText, *, parallel: bool | None = None) -> tuple[Fleet, Fleet]:
    """Validate both fleets, each exactly as ``parse_fleet`` does; raise FleetPairError listing both if invalid.

    Identical texts are validated once. Otherwise, with ``parallel`` (default: when both texts are
    large and this is Linux with more than one CPU) the base is validated in a forked worker process,
    which inherits every loaded module, while this process validates the head; the worker returns
    the base Fleet pickled. A worker that cannot start or dies falls back to validating here.
    """
    if base.text == head.text:
        first = _parse(base)
        results: list[Fleet | _Invalid] = [first, first if isinstance(first, Fleet) else _parse(head)]
    else:
        if parallel is None:
            parallel = min(len(base.text), len(head.text)) >= PARALLEL_MIN_CHARS and _can_fork()
        results = _parse_both(base, head) if parallel else [_parse(base), _parse(head)]
    errors = [FleetError(r.source, r.problems) for r in results if isinstance(r, _Invalid)]
    if errors:
        raise FleetPairError(errors)
    old, new = results
    assert isinstance(old, Fleet) and isinstance(new, Fleet)
    return old, new


def _parse_both(base: FleetText, head: FleetText) -> list[Fleet | _Invalid]:
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as pool:
            pending = pool.submit(_parse, base)
            new = _parse(head)
            try:
                with gc_paused():  # parse_fleet pauses it while parsing; unpickling builds as many objects
                    old = pending.result()
            except BrokenProcessPool:
                old = _parse(base)
    except OSError:  # no process could be started
        return [_parse(base), _parse(head)]
    return [old, new]
