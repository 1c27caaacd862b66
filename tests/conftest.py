"""Session-wide reporting; lives at the top so it also runs in the controller of parallel runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

READY_TIMES = Path(__file__).resolve().parents[1] / ".e2e-ready-times.json"
ENGINE_TIMES = Path(__file__).resolve().parents[1] / ".engine-step-times.json"


class StepTimes:
    """Wall time of each real-engine step, kept in a file so parallel workers report together."""

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            times = json.loads(ENGINE_TIMES.read_text()) if ENGINE_TIMES.exists() else {}
            times[label] = round(time.monotonic() - start, 1)
            ENGINE_TIMES.write_text(json.dumps(times, indent=1, sort_keys=True))


TIMINGS = StepTimes()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        READY_TIMES.unlink(missing_ok=True)
        ENGINE_TIMES.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if READY_TIMES.exists():
        terminalreporter.section("gateway ready times (container start -> /startupz started)")
        for label, seconds in sorted(json.loads(READY_TIMES.read_text()).items()):
            terminalreporter.write_line(f"{seconds:6.1f} s  {label}")
    if ENGINE_TIMES.exists():
        terminalreporter.section("real-engine steps (wall time)")
        for label, seconds in sorted(json.loads(ENGINE_TIMES.read_text()).items()):
            terminalreporter.write_line(f"{seconds:6.1f} s  {label}")
