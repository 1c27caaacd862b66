"""An in-process stand-in for ``pulumi up``: reads the fleet file like the program would, takes a
configurable time, fails on request, and records every update."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from signup.runner import UpResult
from tenants.contract import FinishedState
from tenants.load import load_fleet
from tenants.model import Tenant


class SimulatedCrash(BaseException):
    """The process dies in the middle of an update: nothing after it runs (not an ``Exception``)."""


def fake_token(tenant_id: str, rotation: int = 0) -> str:
    return hashlib.sha256(f"fake-gateway-token:{tenant_id}:{rotation}".encode()).hexdigest()[:48]


@dataclass(frozen=True)
class Update:
    stack: str
    started: float
    finished: float
    outcome: FinishedState
    tenants: frozenset[str]  # the shard's tenants in the file when the update read it


class FakeRunner:
    def __init__(self, fleet_file: Path, *, duration_s: float = 0.0) -> None:
        self.fleet_file = fleet_file
        self.duration_s = duration_s
        self.updates: list[Update] = []
        self.overlaps = 0  # two updates of one stack at once: must stay 0
        self.gate: threading.Event | None = None  # when set, each update waits for it
        self._failures: deque[BaseException] = deque()
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def fail_next(self, *errors: BaseException) -> None:
        """The next updates raise these, one each, in order."""
        with self._lock:
            self._failures.extend(errors)

    @property
    def succeeded(self) -> list[Update]:
        return [u for u in self.updates if u.outcome == "succeeded"]

    def up(self, stack: str) -> UpResult:
        with self._lock:
            if stack in self._running:
                self.overlaps += 1
            self._running.add(stack)
            error = self._failures.popleft() if self._failures else None
        started = time.time()
        try:
            fleet = load_fleet(self.fleet_file)
            tenants = [t for t in fleet.tenants if t.shard == stack]
            if self.gate is not None:
                self.gate.wait(30)
            time.sleep(self.duration_s)
            if error is not None:
                self._record(stack, started, "failed", tenants)
                raise error
            self._record(stack, started, "succeeded", tenants)
            return UpResult(
                stack=stack,
                summary=f"update succeeded: same {len(tenants)}",
                urls={t.id: fleet.url(t) for t in tenants},
                tokens={t.id: fake_token(t.id, t.rotation) for t in tenants},
                duration_s=time.time() - started,
            )
        finally:
            with self._lock:
                self._running.discard(stack)

    def _record(self, stack: str, started: float, outcome: FinishedState, tenants: list[Tenant]) -> None:
        ids = frozenset(t.id for t in tenants)
        with self._lock:
            self.updates.append(Update(stack, started, time.time(), outcome, ids))

    def tenant_token(self, stack: str, tenant_id: str) -> str | None:
        fleet = load_fleet(self.fleet_file)
        for tenant in fleet.tenants:
            if tenant.id == tenant_id:
                return fake_token(tenant.id, tenant.rotation)
        return None
