"""Tenant data on the local engine: what backups, restores and a move's data path cost a tenant.

For a tenant holding 100 MiB and 1 GiB of incompressible files (a mix of session-sized to media-sized
files, beside the gateway's own state), with the real data agent's image and a real gateway of the local
image (bench/data_rig.py):

- the first backup and a second one after 1% of the files changed (`backups run`: stop the gateway,
  snapshot, start it, apply the plan's retention), the repository's size after each, and a restore in
  place (`backups restore`: stop, empty, restore, start) after another 1% changed, checked byte for byte;
- how long the gateway did not answer `/healthz` (a poller beside it, every 0.1 s) during each, next to
  the agent's own `unavailable_s` (stop to start: the gateway's boot comes on top);
- a move's data path on this one daemon: the gateway removed (a suspended tenant's deploy), its final
  backup, a restore into a new volume (the destination's), a new gateway started on it, until `/healthz`
  answers. A real `tenantctl move` adds its three `pulumi up` runs around these steps.
"""

from __future__ import annotations

import time
from typing import Any

import docker
from docker.models.containers import Container

from bench.data_rig import Agent, Rig, du_mib, outage_s
from bench.figures import print_figures, record
from harness.local_images import local_images

SIZES = {"100m": 100 * 2**20, "1g": 2**30}
CHANGED = 0.01
MIB = 2**20


def _mib(value: float) -> float:
    return round(value / MIB, 1)


class Case:
    """One tenant of one size: its volume, gateway, poller and agent, and the figures as they come."""

    def __init__(self, rig: Rig, key: str, size: int) -> None:
        self.rig, self.key, self.size = rig, key, size
        self.figures: dict[str, Any] = {}
        self.volume = rig.volume(f"{key}-state")
        self.gateway_name = rig.name(f"{key}-gateway")
        self.repository = rig.base / f"repository-{key}"
        self.poller: Container | None = None
        self.agent: Agent | None = None

    def _gateway(self, volume: str) -> Container:
        gateway = self.rig.gateway(f"{self.key}-gateway", volume)
        if self.poller is None:
            self.poller = self.rig.poller(self.gateway_name)
        return gateway

    def _healthy_after(self, since: float) -> float:
        assert self.poller is not None
        return self.rig.healthy_after(self.poller, since)

    def _settled(self) -> None:
        assert self.poller is not None
        self.rig.wait_started(self.poller, self.gateway_name)

    def _down_s(self, start: float, end: float) -> float:
        assert self.poller is not None
        return outage_s(self.rig.samples(self.poller), start, end)

    def prepare(self) -> None:
        """The gateway boots on its fresh volume (its own state), then the customer's files are written."""
        started = time.time()
        self._gateway(self.volume)
        self.figures["boot_s"] = round(self._healthy_after(started) - started, 1)
        seed = sum(map(ord, self.key))
        self.rig.files(self.volume, "fill", str(self.size), str(seed))
        self.agent = self.rig.agent(f"{self.key}-agent", self.repository)
        self.agent.schedule(self.gateway_name, self.volume)

    def _operation(self, label: str, *args: str) -> dict[str, Any]:
        """One agent command on the running gateway: its result, and how long the gateway did not answer."""
        assert self.agent is not None
        self._settled()
        start = time.time()
        result, _ = self.agent.backups(*args)
        back = self._healthy_after(time.time() - 0.05)
        self.figures[f"{label}_s"] = round(result["seconds"], 1)
        self.figures[f"{label}_unavailable_s"] = round(result["unavailable_s"], 1)
        self.figures[f"{label}_down_s"] = self._down_s(start, back)
        return result

    def backups(self) -> None:
        self._settled()
        shown = self.rig.files(self.volume, "digest")  # what the first snapshot takes: the gateway's state too
        self.figures |= {
            "data_mib": _mib(shown["bench_bytes"]),
            "files": shown["files"],
            "volume_mib": _mib(shown["volume_bytes"]),
        }
        first = self._operation("first_backup", "run", self.rig.tenant_id)
        self.figures["first_added_mib"] = _mib(first["bytes_added"])
        self.figures["repo_first_mib"] = du_mib(self.repository)
        changed = self.rig.files(self.volume, "change", str(CHANGED), "1")
        self.figures["changed_mib"] = _mib(changed["changed_bytes"])
        second = self._operation("incr_backup", "run", self.rig.tenant_id)
        self.figures["incr_added_mib"] = _mib(second["bytes_added"])
        self.figures["repo_incr_mib"] = du_mib(self.repository)
        f = self.figures
        f["incr_ratio"] = round(f["incr_backup_s"] / f["first_backup_s"], 3)
        f["incr_down_ratio"] = round(f["incr_backup_down_s"] / f["first_backup_down_s"], 3)
        f["repo_ratio"] = round(f["repo_incr_mib"] / f["volume_mib"], 3)

    def restore(self) -> None:
        """Another 1% changed after the last snapshot, then the snapshot restored over it."""
        snapshot = self.rig.files(self.volume, "digest")["digest"]
        self.rig.files(self.volume, "change", str(CHANGED), "2")
        self._operation("restore", "restore", self.rig.tenant_id)
        self.figures["restore_identical"] = self.rig.files(self.volume, "digest")["digest"] == snapshot
        self.figures["restore_ratio"] = round(self.figures["restore_s"] / self.figures["first_backup_s"], 3)

    def move(self) -> None:
        """A move's data path after a day's changes: remove the gateway, back up, restore into a new
        volume, start a gateway there; downtime from the stop to its first answered `/healthz`."""
        assert self.agent is not None
        self.rig.files(self.volume, "change", str(CHANGED), "3")
        moved = self.rig.files(self.volume, "digest")["digest"]
        destination = self.rig.volume(f"{self.key}-moved")
        self._settled()
        start, t0 = time.time(), time.monotonic()
        gateway = self.rig.client.containers.get(self.gateway_name)
        gateway.stop(timeout=self.rig.spec.stop_grace_s)
        gateway.remove()
        t_stop = time.monotonic()
        result, _ = self.agent.backups("run", self.rig.tenant_id)
        t_backup = time.monotonic()
        self.agent.schedule(self.gateway_name, destination)
        self.agent.backups("restore", self.rig.tenant_id, "--snapshot", str(result["snapshot"]))
        t_restore = time.monotonic()
        self._gateway(destination)
        back = self._healthy_after(time.time() - 0.05)
        end = time.monotonic()
        self.figures |= {
            "move_stop_s": round(t_stop - t0, 1),
            "move_backup_s": round(t_backup - t_stop, 1),
            "move_restore_s": round(t_restore - t_backup, 1),
            "move_start_s": round(end - t_restore, 1),
            "move_total_s": round(end - t0, 1),
            "move_down_s": self._down_s(start, back),
            "move_identical": self.rig.files(destination, "digest")["digest"] == moved,
        }


def run_case(rig: Rig, key: str, size: int) -> dict[str, Any]:
    case = Case(rig, key, size)
    case.prepare()
    case.backups()
    case.restore()
    case.move()
    return case.figures


def measure() -> dict[str, Any]:
    images = local_images()
    client = docker.from_env(timeout=600)
    figures: dict[str, Any] = {}
    for key, size in SIZES.items():
        rig = Rig(client, images)
        try:
            record(figures, f"data_{key}", run_case(rig, key, size))
        finally:
            rig.cleanup()
    return figures


if __name__ == "__main__":
    print_figures(measure())
