"""Session-wide reporting; lives at the top so it also runs in the controller of parallel runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

READY_TIMES = Path(__file__).resolve().parents[1] / ".e2e-ready-times.json"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        READY_TIMES.unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if READY_TIMES.exists():
        terminalreporter.section("gateway ready times (container start -> /startupz started)")
        for label, seconds in sorted(json.loads(READY_TIMES.read_text()).items()):
            terminalreporter.write_line(f"{seconds:6.1f} s  {label}")
