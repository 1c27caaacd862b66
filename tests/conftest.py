"""Session-wide reporting; lives at the top so it also runs in the controller of parallel runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Times:
    """Seconds by label, in a file so that parallel workers report together at the end of the run."""

    path: Path
    title: str

    def record(self, label: str, seconds: float) -> None:
        times = json.loads(self.path.read_text()) if self.path.exists() else {}
        times[label] = round(seconds, 1)
        self.path.write_text(json.dumps(times, indent=1, sort_keys=True))

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.record(label, time.monotonic() - start)


READY_TIMES = Times(ROOT / ".e2e-ready-times.json", "gateway ready times (container start -> /startupz started)")
TIMINGS = Times(ROOT / ".engine-step-times.json", "real-engine steps (wall time)")
REPORTS = (READY_TIMES, TIMINGS)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        for report in REPORTS:
            report.path.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for report in REPORTS:
        if report.path.exists():
            terminalreporter.section(report.title)
            for label, seconds in sorted(json.loads(report.path.read_text()).items()):
                terminalreporter.write_line(f"{seconds:6.1f} s  {label}")
