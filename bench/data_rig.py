"""The pieces the tenant-data benchmark runs on the local engine, all named ``ocbench-data-*``: a gateway
container of the local image on a plain volume (the spec the program deploys, on an internal network of
its own), a backup agent started as a Docker target's is (the daemon's socket, the host's network, a local
repository bind-mounted at its own path), a poller of the gateway's ``/healthz`` beside it, and throwaway
containers that write, change and digest a tenant's files as the tenant's own uid.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import docker
import docker.errors
from docker.models.containers import Container

from data_agent.jobs import TARGET_LABEL
from harness.fleets import local_fleet
from harness.waiting import wait_until
from tenants import docker_specs as ds
from tenants import openclaw
from tenants.data_names import BACKUP_STATE_DIR, DATA_AGENT_COMMAND, SCHEDULE_DIR, SCHEDULE_PATH, SCHEDULE_VERSION
from tenants.load import parse_fleet
from tenants.model import Fleet
from tenants.resolved import DockerTenant, resolve

PREFIX = "ocbench-data-"
POLL_S = 0.1
BOOT_TIMEOUT_S = 300.0
REPOSITORY_WAIT_S = 120.0
OPERATION_TIMEOUT_S = 3600.0
SEEDED = "cache"  # a directory the gateway uses anyway: an empty volume would take the image's owner again
MOUNT = "/data"  # where the helpers see a tenant's volume
BENCH_DIR = "workspace/ocbench-data"  # the benchmark's files, inside the tenant's state directory
# Seen from the gateway's own network the poller could be one of its trusted proxies: it names a client.
FORWARDED = {"X-Forwarded-For": "192.0.2.10", "X-Real-IP": "192.0.2.10", "X-Forwarded-Proto": "http"}

# Run with python3 in the data agent's image, as the tenant's uid. `fill TOTAL SEED`: incompressible files
# in a mix of sizes (share of the bytes, smallest, largest); `change FRACTION SEED`: rewrite files that add
# up to FRACTION of the bytes with new content; `digest`: one hash of every file's path, owner, mode and
# content. Each prints one JSON line.
TENANT_SCRIPT = r"""
import hashlib, json, os, random, sys
ROOT = "/data"
BENCH = os.path.join(ROOT, "BENCH_DIR")
KINDS = (("sessions", ".jsonl", 0.10, 4 << 10, 64 << 10), ("notes", ".txt", 0.20, 64 << 10, 1 << 20),
         ("documents", ".pdf", 0.30, 1 << 20, 8 << 20), ("media", ".bin", 0.40, 8 << 20, 32 << 20))

def write(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n

def files():
    found = []
    for base, dirs, names in os.walk(BENCH):
        dirs.sort()
        found += [os.path.join(base, n) for n in sorted(names)]
    return found

def fill(total, rng):
    count = 0
    for kind, ext, share, low, high in KINDS:
        os.makedirs(os.path.join(BENCH, kind), exist_ok=True)
        left = int(total * share)
        while left > 0:
            size = min(left, int(rng.uniform(low, high)))
            write(os.path.join(BENCH, kind, f"{count:06d}{ext}"), size)
            left -= size
            count += 1
    return {"files": count}

def change(fraction, rng):
    every = files()
    sizes = {p: os.path.getsize(p) for p in every}
    goal = fraction * sum(sizes.values())
    rng.shuffle(every)
    changed = count = 0
    for path in every:
        if changed >= goal:
            break
        if sizes[path] <= goal - changed:
            write(path, sizes[path])
            changed += sizes[path]
            count += 1
    return {"changed_bytes": changed, "changed_files": count}

def digest():
    h = hashlib.sha256()
    size = 0
    for path in files():
        st = os.stat(path)
        h.update(f"{os.path.relpath(path, BENCH)} {st.st_uid} {st.st_mode:o} {st.st_size}\n".encode())
        size += st.st_size
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    whole = sum(os.lstat(os.path.join(b, n)).st_size for b, _, ns in os.walk(ROOT) for n in ns)
    return {"digest": h.hexdigest(), "files": len(files()), "bench_bytes": size, "volume_bytes": whole}

command = sys.argv[1]
if command == "fill":
    out = fill(int(sys.argv[2]), random.Random(int(sys.argv[3])))
elif command == "change":
    out = change(float(sys.argv[2]), random.Random(int(sys.argv[3])))
else:
    out = digest()
print(json.dumps(out))
""".replace("BENCH_DIR", BENCH_DIR)

# Every POLL_S: "<epoch seconds> <1 if /healthz said ok, else 0>", until stopped.
POLLER_SCRIPT = r"""
import json, sys, time, urllib.request
url, interval, headers = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
following = time.time()
while True:
    started = time.time()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=1.0) as r:
            ok = r.status == 200 and json.loads(r.read()).get("ok") is True
    except Exception:
        ok = False
    print(f"{started:.3f} {int(ok)}", flush=True)
    following += interval
    time.sleep(max(0.0, following - time.time()))
"""

Samples = list[tuple[float, bool]]


def outage_s(samples: Samples, start: float, end: float) -> float:
    """Seconds the gateway did not answer between ``start`` and ``end`` (epoch): each run of failed polls
    counts from the last answered poll before it to the first answered one after it (0.1 s resolution)."""
    total, last_ok, failing = 0.0, start, False
    for at, ok in samples:
        if at < start:
            continue
        if ok:
            if failing:
                total += at - last_ok
                failing = False
            last_ok = at
            if at > end:
                break
        elif at <= end:
            failing = True
    if failing:
        total += end - last_ok
    return round(total, 1)


def du_mib(path: Path) -> float:
    """What ``du`` says a directory takes, in MiB (allocated blocks, not file lengths)."""
    blocks = sum(os.lstat(Path(base) / name).st_blocks for base, _, names in os.walk(path) for name in names)
    return round(blocks * 512 / 2**20, 1)


def _fleet(run: str, repository_root: Path) -> Fleet:
    """One basic-plan tenant on a target of plain volumes, backed up (with the product's defaults) under
    ``repository_root``."""
    text = local_fleet(
        f"{PREFIX}t",
        [{"id": f"{PREFIX}{run}"}],
        {"port": 18990},
        backups={"repository": str(repository_root)},
        storage={"mode": "volume"},
    )
    return parse_fleet(text, "tenant data bench fleet")


@dataclass
class Rig:
    """Everything one run creates carries the label ``TARGET_LABEL=<target>``, the agent's workers too."""

    client: docker.DockerClient
    images: dict[str, str]
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=PREFIX)))

    def __post_init__(self) -> None:
        fleet = _fleet(self.run, self.base)
        tenant = resolve(fleet, fleet.tenants[0])
        assert isinstance(tenant, DockerTenant) and fleet.backups is not None
        self.tenant, self.backups_config = tenant, fleet.backups
        self.keep = tenant.plan.backup.keep
        self.spec = ds.container_spec(tenant)
        self.network = f"{PREFIX}net-{self.run}"
        self.client.networks.create(self.network, driver="bridge", internal=True, labels=self.labels)

    @property
    def target(self) -> str:
        return f"{PREFIX}{self.run}"

    @property
    def tenant_id(self) -> str:
        return self.tenant.id

    @property
    def labels(self) -> dict[str, str]:
        return {TARGET_LABEL: self.target}

    @property
    def uid(self) -> int:
        return self.tenant.uid

    def name(self, role: str) -> str:
        return f"{PREFIX}{role}-{self.run}"

    # --- the tenant's volume and files ------------------------------------------------------------

    def volume(self, role: str) -> str:
        """A fresh volume owned by the tenant's uid, as the deployment's volume owner leaves it."""
        name = self.name(role)
        self.client.volumes.create(name, labels=self.labels)
        script = (
            f"mkdir -p {MOUNT}/{SEEDED} && chown {self.uid}:{self.uid} {MOUNT} {MOUNT}/{SEEDED} && chmod 0700 {MOUNT}"
        )
        self.client.containers.run(
            self.images["data_agent"],
            ["-c", script],
            entrypoint=["sh"],
            user="0:0",
            network_mode="none",
            cap_drop=["ALL"],
            cap_add=["CHOWN", "FOWNER"],
            volumes={name: {"bind": MOUNT, "mode": "rw"}},
            labels=self.labels,
            remove=True,
        )
        return name

    def files(self, volume: str, *args: str) -> dict[str, Any]:
        """TENANT_SCRIPT on ``volume`` as the tenant's uid, with no network; its JSON line."""
        output = self.client.containers.run(
            self.images["data_agent"],
            ["-c", TENANT_SCRIPT, *args],
            entrypoint=["python3"],
            user=f"{self.uid}:{self.uid}",
            network_mode="none",
            cap_drop=["ALL"],
            volumes={volume: {"bind": MOUNT, "mode": "rw"}},
            labels=self.labels,
            remove=True,
        )
        assert isinstance(output, bytes)
        result: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
        return result

    # --- the gateway and its poller ---------------------------------------------------------------

    def gateway(self, role: str, volume: str) -> Container:
        """The tenant's gateway as the program's container spec has it, on ``volume``."""
        spec = self.spec
        secret_env = {env: secrets.token_hex(24) for env in spec.secret_env}
        return self.client.containers.run(
            spec.image,
            list(spec.command),
            name=self.name(role),
            hostname=spec.hostname,
            working_dir=spec.working_dir,
            user=spec.user,
            environment={**spec.env, **secret_env},
            nano_cpus=int(spec.cpus * 1e9),
            mem_limit=f"{spec.memory_mib}m",
            pids_limit=spec.pids_limit,
            read_only=spec.read_only,
            tmpfs=dict(spec.tmpfs),
            volumes={volume: {"bind": openclaw.STATE_DIR, "mode": "rw"}},
            cap_drop=list(spec.cap_drop),
            security_opt=list(spec.security_opts),
            init=spec.init,
            restart_policy=cast(Any, {"Name": spec.restart}),
            network=self.network,
            labels=self.labels,
            detach=True,
        )

    def poller(self, gateway_name: str) -> Container:
        url = f"http://{gateway_name}:{openclaw.PORT}{openclaw.LIVENESS_PATH}"
        return self.client.containers.run(
            self.images["data_agent"],
            ["-u", "-c", POLLER_SCRIPT, url, str(POLL_S), json.dumps(FORWARDED)],
            entrypoint=["python3"],
            name=self.name("poller"),
            user="65534:65534",
            cap_drop=["ALL"],
            network=self.network,
            labels=self.labels,
            detach=True,
        )

    @staticmethod
    def samples(poller: Container) -> Samples:
        lines = poller.logs(stdout=True, stderr=False).decode().splitlines()
        return [(float(at), ok == "1") for at, ok in (line.split() for line in lines if line.count(" ") == 1)]

    def healthy_after(self, poller: Container, since: float, timeout_s: float = BOOT_TIMEOUT_S) -> float:
        """Wait (bounded) for an answered poll after ``since``; its time."""
        found: list[float] = []

        def answered() -> bool:
            found[:] = [at for at, ok in self.samples(poller) if ok and at > since][:1]
            return bool(found)

        wait_until(answered, timeout_s, interval_s=0.5)
        return found[0]

    def wait_started(self, poller: Container, gateway_name: str, timeout_s: float = BOOT_TIMEOUT_S) -> None:
        """Wait (bounded) until the gateway says `/startupz` "started", asked from the poller's container:
        a tenant in its steady state, not one still loading (which takes longer to stop)."""
        url = f"http://{gateway_name}:{openclaw.PORT}{openclaw.STARTUP_PATH}"
        check = (
            "import json, sys, urllib.request\n"
            "request = urllib.request.Request(sys.argv[1], headers=json.loads(sys.argv[2]))\n"
            "with urllib.request.urlopen(request, timeout=2) as r:\n"
            "    sys.exit(0 if json.loads(r.read()).get('status') == 'started' else 1)\n"
        )

        def started() -> bool:
            code, _ = poller.exec_run(["python3", "-c", check, url, json.dumps(FORWARDED)])
            return code == 0

        wait_until(started, timeout_s, interval_s=0.5)

    # --- the backup agent -------------------------------------------------------------------------

    def agent(self, role: str, repository: Path) -> Agent:
        """A target's backup agent on ``repository`` (initialized by its serve loop), with no schedule yet."""
        repository.mkdir(parents=True)
        schedule_dir = self.base / f"schedule-{role}"
        schedule_dir.mkdir()
        state = self.name(f"{role}-state")
        self.client.volumes.create(state, labels=self.labels)
        agent = Agent(self, schedule_dir, None)
        agent.schedule(None, None)
        agent.container = self.client.containers.run(
            self.images["data_agent"],
            ["backups", "serve"],
            name=self.name(role),
            detach=True,
            network_mode="host",
            environment={
                "RESTIC_REPOSITORY": str(repository),
                "RESTIC_PASSWORD": secrets.token_hex(16),
                "OPENCLAW_DATA_AGENT_IMAGE": self.images["data_agent"],
            },
            volumes={
                "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(repository): {"bind": str(repository), "mode": "rw"},
                str(schedule_dir): {"bind": SCHEDULE_DIR, "mode": "ro"},
                state: {"bind": BACKUP_STATE_DIR, "mode": "rw"},
            },
            labels=self.labels,
        )
        wait_until((repository / "config").exists, REPOSITORY_WAIT_S)
        return agent

    # --- the end ----------------------------------------------------------------------------------

    def cleanup(self) -> None:
        selector: dict[str, str | list[str] | bool] = {"label": f"{TARGET_LABEL}={self.target}"}
        for container in self.client.containers.list(all=True, filters=selector):
            container.remove(force=True)
        for volume in self.client.volumes.list(filters=selector):
            volume.remove(force=True)
        for network in self.client.networks.list(filters=selector):
            network.remove()
        shutil.rmtree(self.base, ignore_errors=True)


@dataclass
class Agent:
    rig: Rig
    schedule_dir: Path
    container: Container | None

    def schedule(self, gateway: str | None, volume: str | None) -> None:
        """The schedule file naming the tenant's gateway and volume (none: an empty schedule); on demand only."""
        rig = self.rig
        tenants = {}
        if gateway is not None and volume is not None:
            keep = rig.keep.model_dump()
            tenants = {rig.tenant_id: {"container": gateway, "volume": volume, "every_s": None, "keep": keep}}
        doc = {
            "version": SCHEDULE_VERSION,
            "target": rig.target,
            "stop_timeout_s": rig.backups_config.stop_timeout_s,
            "max_stop_s": rig.backups_config.max_stop_s,
            "tenants": tenants,
        }
        tmp = self.schedule_dir / ".schedule.json.tmp"
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.schedule_dir / Path(SCHEDULE_PATH).name)

    def backups(self, *args: str) -> tuple[dict[str, Any], float]:
        """One `backups` command of the agent: its JSON result and the seconds it took, seen from here."""
        assert self.container is not None
        started = time.monotonic()
        code, output = self.container.exec_run([*DATA_AGENT_COMMAND, "backups", *args], demux=True)
        seconds = time.monotonic() - started
        out, err = cast(tuple[bytes | None, bytes | None], output)
        if code != 0:
            raise RuntimeError(f"backups {' '.join(args)} failed: {(err or b'').decode()[-1000:]}")
        result: dict[str, Any] = json.loads((out or b"").decode().strip().splitlines()[-1])
        return result, seconds
