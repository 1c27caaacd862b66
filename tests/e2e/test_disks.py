"""Per-tenant disks on this host's kernel: bytes and inodes end at the quota, neighbours and the host keep
theirs, grow keeps the data, remove leaves nothing, serve mounts what a reboot unmounted.

Every test runs twice: with the disk agent run directly on the host, and with it in a privileged
container of the data-agent image sharing the host's pids (as a target runs it), its root bind-mounted at
the same path; there the tenant's writes come from a second container given the disk's ``data/`` as a
Docker volume (``type=none, o=bind``), as a gateway gets it. Names start with ``octest-disk-``; every mount,
loop device, image, container and volume a test makes is removed, also when it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from data_agent import disks as d
from data_agent import host_fs as h
from harness.waiting import wait_until
from tenants.data_names import DISK_ROOT_ENV
from tenants.model import Images

ROOT = Path(__file__).resolve().parents[2]
GIB, MIB = 1 << 30, 1 << 20
PREFIX = "octest-disk-"
RUN = uuid.uuid4().hex[:8]
LABELS = {"openclaw-tenants.test/run": f"{PREFIX}{RUN}"}
DISK_AGENT_MODULES = ("disks", "host_fs", "locking")
AGENT_TIMEOUT_S = 300.0
WRITE_TIMEOUT_S = 600.0
# Others may write to this host's file system while a test fills a disk: how much of the drop they may cause.
HOST_SLACK = 512 * MIB
UIDS = {"a": 2_000_000_901, "b": 2_000_000_902, "c": 2_000_000_903, "g": 2_000_000_904, "r": 2_000_000_905}
UIDS |= {"s": 2_000_000_906, "p": 2_000_000_907, "t": 2_000_000_908, "k": 2_000_000_909}

# Run as the tenant's uid, on the host or in the tenant's container: JSON on stdout.
WRITER = """
import errno, json, os, sys
path, limit = sys.argv[1], int(sys.argv[2])
chunk, written, error = bytes(range(256)) * 4096, 0, None
try:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while written < limit:
            written += os.write(fd, chunk[: limit - written])
        os.fsync(fd)
    finally:
        os.close(fd)
except OSError as exc:
    error = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps({"written": written, "error": error}))
"""
CREATOR = """
import errno, json, os, sys
directory, limit = sys.argv[1], int(sys.argv[2])
created, error = 0, None
try:
    while created < limit:
        os.close(os.open(os.path.join(directory, f"f{created}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        created += 1
except OSError as exc:
    error = errno.errorcode.get(exc.errno, str(exc.errno))
print(json.dumps({"created": created, "error": error}))
"""
READER = """
import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
"""


def host_pid() -> str:
    """A process of the host's mount namespace the agent may enter: init, or (where init is out of reach,
    as in some sandboxes) the Docker daemon, whose namespace is the one its volume binds resolve in."""
    own = os.readlink("/proc/self/ns/mnt")
    candidates = ["1"]
    pid_file = Path("/var/run/docker.pid")
    if pid_file.exists():
        candidates.append(pid_file.read_text().strip())
    for pid in candidates:
        try:
            if os.readlink(f"/proc/{pid}/ns/mnt") == own:
                return pid
        except OSError:
            continue
    pytest.skip("no process of this mount namespace can be entered (not root on the host?)")


def has_cap_sys_resource() -> bool:
    """The kernel grows a mounted ext4 only for CAP_SYS_RESOURCE (a privileged container gets the host's set)."""
    status = Path("/proc/self/status").read_text()
    bounding = int(next(line.split()[1] for line in status.splitlines() if line.startswith("CapBnd:")), 16)
    return bool(bounding >> 24 & 1)


def tenant(key: str) -> str:
    return f"{PREFIX}{key}"


@dataclass
class Result:
    code: int
    doc: Any
    err: str


@dataclass
class Agent:
    """The disk agent of one root, run on the host or in its container; tenants write as their uid."""

    root: Path
    pid: str
    engine: docker.DockerClient | None = None
    image: str = ""
    container: Container | None = None
    volumes: dict[str, str] = field(default_factory=dict)  # tenant → its Docker volume

    @property
    def in_container(self) -> bool:
        return self.container is not None

    def disks(self, *args: str) -> Result:
        if self.container is not None:
            found, streams = self.container.exec_run(["python3", "-m", "data_agent", "disks", *args], demux=True)
            out, err = cast(tuple[bytes | None, bytes | None], streams)
            code, stdout, stderr = int(found or 0), (out or b"").decode(), (err or b"").decode()
        else:
            env = {**os.environ, DISK_ROOT_ENV: str(self.root), d.HOST_PID_ENV: self.pid}
            argv = [sys.executable, "-m", "data_agent", "disks", *args]
            done = subprocess.run(
                argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=AGENT_TIMEOUT_S, check=False
            )
            code, stdout, stderr = done.returncode, done.stdout, done.stderr
        return Result(code, json.loads(stdout) if stdout.strip() else None, stderr)

    def ok(self, *args: str) -> Any:
        result = self.disks(*args)
        assert result.code == 0, result.err
        return result.doc

    def create(self, key: str, gib: int = 1, inodes: int = 65536) -> dict[str, Any]:
        doc = self.ok("create", tenant(key), "--gib", str(gib), "--inodes", str(inodes), "--uid", str(UIDS[key]))
        assert isinstance(doc, dict)
        return doc

    def data(self, key: str) -> Path:
        return self.root / "mnt" / tenant(key) / "data"

    def as_tenant(self, key: str, script: str, *args: str) -> dict[str, Any]:
        """``script`` as the tenant's uid with its data at ``/data`` (in a container) or where it is (host)."""
        uid = UIDS[key]
        if self.engine is None:
            with self.data_handle(key) as data:
                argv = ["/usr/bin/python3", "-c", script, *(a.replace("/data", data, 1) for a in args)]
                done = subprocess.run(
                    argv, user=uid, group=uid, extra_groups=[], capture_output=True, text=True,
                    timeout=WRITE_TIMEOUT_S, check=True, cwd="/", pass_fds=(int(data.rsplit("/", 1)[1]),),
                )  # fmt: skip
            return dict(json.loads(done.stdout)) if done.stdout.startswith("{") else {"out": done.stdout.strip()}
        runner = self.engine.containers.run(
            self.image, ["-c", script, *args], entrypoint=["python3"], user=f"{uid}:{uid}", network_mode="none",
            cap_drop=["ALL"], read_only=True, volumes={self.volume(key): {"bind": "/data", "mode": "rw"}},
            labels=LABELS, name=f"{PREFIX}writer-{RUN}-{key}", detach=True,
        )  # fmt: skip
        try:
            status = runner.wait(timeout=WRITE_TIMEOUT_S)
            out = runner.logs(stdout=True, stderr=False).decode()
            assert status["StatusCode"] == 0, runner.logs().decode()
        finally:
            runner.remove(force=True)
        return dict(json.loads(out)) if out.startswith("{") else {"out": out.strip()}

    @contextmanager
    def data_handle(self, key: str) -> Iterator[str]:
        """The tenant's data as a path its uid can reach: the root is the host's (mode 0700), so a process
        gets its directory as an open handle, the way a bind mount gives it to a gateway."""
        fd = os.open(self.data(key), os.O_RDONLY | os.O_DIRECTORY)
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)

    def volume(self, key: str) -> str:
        """The tenant's volume as a gateway gets it: a bind of its disk's ``data/``."""
        if key not in self.volumes:
            assert self.engine is not None
            name = f"{PREFIX}{RUN}-{key}"
            options = {"type": "none", "o": "bind", "device": str(self.data(key))}
            self.engine.volumes.create(name, driver="local", driver_opts=options, labels=LABELS)
            self.volumes[key] = name
        return self.volumes[key]

    def drop_volume(self, key: str) -> None:
        if self.engine is not None and key in self.volumes:
            self.engine.volumes.get(self.volumes.pop(key)).remove(force=True)

    def write(self, key: str, name: str, size: int) -> dict[str, Any]:
        return self.as_tenant(key, WRITER, f"/data/{name}", str(size))

    def digest(self, key: str, name: str) -> str:
        return str(self.as_tenant(key, READER, f"/data/{name}")["out"])


# --- what a test leaves behind, found and removed -----------------------------------------------------


def mounts_under(root: Path) -> list[str]:
    points = [m.point for m in h.parse_mountinfo(Path("/proc/self/mountinfo").read_text())]
    return sorted({p for p in points if p == str(root) or p.startswith(f"{root}/")}, reverse=True)


def loops_of(image: Path) -> list[str]:
    out = subprocess.run(
        ["losetup", "-n", "-O", "NAME", "-j", str(image)], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def clean_root(root: Path) -> None:
    """Unmount, detach and delete everything under ``root``; never delete across a mount."""
    for point in mounts_under(root):
        if subprocess.run(["umount", point], capture_output=True, timeout=60, check=False).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=60, check=False)
    for image in root.glob("*.img*"):
        for loop in loops_of(image):
            subprocess.run(["losetup", "-d", loop], capture_output=True, timeout=60, check=False)
    left = mounts_under(root)
    assert left == [], f"still mounted: {left}"
    shutil.rmtree(root, ignore_errors=True)


def agent_image(engine: docker.DockerClient, images: dict[str, str]) -> str:
    """The data-agent image just built, the one the fleet pins, checked to carry this checkout's disk agent."""
    tag = images["data_agent"]
    assert tag == Images().data_agent
    for module in DISK_AGENT_MODULES:
        script = f"import data_agent.{module} as m; print(open(m.__file__).read(), end='')"
        shipped = engine.containers.run(
            tag, ["-c", script], entrypoint=["python3"], network_mode="none", remove=True, labels=LABELS
        )
        if shipped.decode() != (ROOT / "data_agent" / f"{module}.py").read_text():
            pytest.fail(f"{tag} carries another data_agent/{module}.py than this checkout: rebuild it with build.sh")
    return tag


# Where the daemon cannot grant every capability (a sandbox whose own bounding set lacks some), a privileged
# container does not start at all: there the agent runs with what it needs: mounts, loop devices, entering
# the host's mount namespace.
NARROW: dict[str, Any] = {
    "cap_add": ["SYS_ADMIN", "SYS_PTRACE"],
    "device_cgroup_rules": ["b 7:* rwm", "c 10:237 rwm"],  # loop devices and /dev/loop-control
    "security_opt": ["apparmor=unconfined"],
}


def start_agent(engine: docker.DockerClient, image: str, root: Path) -> Container:
    """As a target runs it: the host's pids, the root at the same path, `disks serve`, and no pid to enter:
    the agent finds the daemon's mount namespace by itself."""
    config: dict[str, Any] = {
        "name": f"{PREFIX}agent-{RUN}", "pid_mode": "host", "network_mode": "none", "read_only": True,
        "tmpfs": {"/tmp": "rw,noexec,nosuid,size=16m"}, "volumes": {str(root): {"bind": str(root), "mode": "rw"}},
        "environment": {DISK_ROOT_ENV: str(root)}, "labels": LABELS,
    }  # fmt: skip
    try:
        container = engine.containers.run(image, ["disks", "serve"], detach=True, privileged=True, **config)
    except docker.errors.APIError as exc:
        if "apply caps" not in str(exc):
            raise
        engine.containers.get(config["name"]).remove(force=True)
        container = engine.containers.run(image, ["disks", "serve"], detach=True, **config, **NARROW)
    wait_serving(container)
    return container


def reports(container: Container) -> list[dict[str, Any]]:
    """What each start of the agent reported on stdout (its logs keep those of earlier starts)."""
    lines = container.logs(stdout=True, stderr=False).decode().splitlines()
    return [json.loads(line) for line in lines if line.startswith('{"mounted"')]


def wait_serving(container: Container, starts: int = 1) -> dict[str, Any]:
    """The report of the agent's ``starts``-th start, once it has mounted its disks."""

    def served() -> bool:
        container.reload()
        assert container.status in {"created", "running"}, container.logs().decode()
        return len(reports(container)) >= starts

    wait_until(served, 60)
    return reports(container)[starts - 1]


@pytest.fixture(scope="module", params=["host", "container"])
def agent(request: pytest.FixtureRequest) -> Iterator[Agent]:
    if os.geteuid() != 0 or not Path("/dev/loop-control").exists() or shutil.which("nsenter") is None:
        pytest.skip("needs root, loop devices and nsenter on this host")
    pid = host_pid()
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{RUN}-{request.param}-", dir="/var/tmp"))
    made = Agent(root, pid)
    try:
        if request.param == "container":
            engine = request.getfixturevalue("engine")
            made.engine, made.image = engine, agent_image(engine, request.getfixturevalue("images"))
            # A disk mounted before the agent starts: its container gets a copy of that mount (Docker binds
            # recursively), which must not keep the disk alive once removed.
            Agent(root, pid).create("p")
            made.container = start_agent(engine, made.image, root)
        yield made
    finally:
        try:
            if made.engine is not None:
                for leftover in made.engine.containers.list(all=True, filters={"label": "openclaw-tenants.test/run"}):
                    if leftover.labels.get("openclaw-tenants.test/run") == LABELS["openclaw-tenants.test/run"]:
                        leftover.remove(force=True)
                for key in list(made.volumes):
                    made.drop_volume(key)
        finally:
            clean_root(root)


def host_free(root: Path) -> int:
    v = os.statvfs(root)
    return v.f_bavail * v.f_frsize


# --- the tests ----------------------------------------------------------------------------------------


def test_a_full_disk_refuses_its_tenant_while_the_neighbour_and_the_host_keep_their_space(agent: Agent) -> None:
    agent.create("a")
    agent.create("b")
    free_before = host_free(agent.root)
    filled = agent.write("a", "fill", 2 * GIB)  # twice the quota
    assert filled["error"] == "ENOSPC"
    assert 0.9 * GIB <= filled["written"] <= GIB
    again = agent.write("a", "more", 16 * MIB)
    assert again["error"] == "ENOSPC"
    neighbour = agent.write("b", "fill", 64 * MIB)
    assert neighbour == {"written": 64 * MIB, "error": None}
    shown = agent.ok("show", tenant("a"))
    assert shown["free_bytes"] < 16 * MIB
    assert shown["image_bytes"] <= GIB  # all the host gives a 1 GiB disk, however much its tenant writes
    assert free_before - host_free(agent.root) <= GIB + 64 * MIB + HOST_SLACK


def test_an_inode_limit_refuses_new_files_with_space_left(agent: Agent) -> None:
    doc = agent.create("c", inodes=64)
    assert doc["inodes"] < 256  # mkfs fills whole inode tables: 16 per 4 KiB block, in each of 8 groups
    made = agent.as_tenant("c", CREATOR, "/data", "100000")
    assert made["error"] == "ENOSPC"
    assert made["created"] < doc["inodes"]
    shown = agent.ok("show", tenant("c"))
    assert shown["free_inodes"] == 0
    assert shown["free_bytes"] > 0.9 * GIB
    assert agent.write("c", "f0", MIB) == {"written": MIB, "error": None}  # an existing file still grows


def test_grow_raises_the_limit_and_keeps_the_data(agent: Agent) -> None:
    agent.create("g")
    assert agent.write("g", "kept", 64 * MIB)["error"] is None
    kept = agent.digest("g", "kept")
    assert agent.write("g", "fill", 2 * GIB)["error"] == "ENOSPC"
    grown = agent.ok("grow", tenant("g"), "--gib", "2")
    assert (grown["gib"], grown["mounted"]) == (2, True)
    assert grown["free_bytes"] > 0.9 * GIB
    assert grown["inodes"] == 2 * 65536
    assert agent.digest("g", "kept") == kept
    assert agent.write("g", "after", 512 * MIB) == {"written": 512 * MIB, "error": None}
    refused = agent.disks("grow", tenant("g"), "--gib", "1")
    assert refused.code == 2 and "shrinking" in refused.err


@pytest.mark.skipif(not has_cap_sys_resource(), reason="this host withholds CAP_SYS_RESOURCE: no online grow")
def test_grow_is_online_while_the_tenant_holds_files_open(agent: Agent) -> None:
    agent.create("s")
    with held_open(agent, "s"):
        grown = agent.ok("grow", tenant("s"), "--gib", "2")
    assert grown["gib"] == 2 and grown["free_bytes"] > 1.9 * GIB


@pytest.mark.skipif(has_cap_sys_resource(), reason="the kernel grows mounted disks here")
def test_without_online_grow_a_disk_in_use_is_refused_not_unmounted(agent: Agent) -> None:
    agent.create("s")
    assert agent.write("s", "kept", MIB)["error"] is None
    with held_open(agent, "s"):
        refused = agent.disks("grow", tenant("s"), "--gib", "2")
        assert refused.code == 1
        assert "CAP_SYS_RESOURCE" in refused.err and ("in use" in refused.err or "busy" in refused.err)
        shown = agent.ok("show", tenant("s"))
        assert (shown["mounted"], shown["gib"]) == (True, 1)
    assert agent.write("s", "still", MIB)["error"] is None


def test_remove_refuses_while_in_use_then_leaves_nothing(agent: Agent) -> None:
    agent.create("r")
    image, mount = agent.root / f"{tenant('r')}.img", agent.root / "mnt" / tenant("r")
    assert agent.write("r", "secret", 8 * MIB)["error"] is None
    with held_open(agent, "r"):
        refused = agent.disks("remove", tenant("r"))
        assert refused.code == 1 and ("in use" in refused.err or "busy" in refused.err)
    assert image.exists()
    agent.drop_volume("r")
    assert agent.ok("remove", tenant("r")) == {"tenant": tenant("r"), "removed": True}
    assert not image.exists() and not mount.exists()
    assert str(mount) not in mounts_under(agent.root)
    assert loops_of(image) == []
    assert agent.ok("remove", tenant("r")) == {"tenant": tenant("r"), "removed": False}
    assert agent.disks("show", tenant("r")).code == 4


def test_a_disk_mounted_before_the_agent_started_is_removed_for_good(agent: Agent) -> None:
    """The container's copy of that mount is dropped, so removing the disk releases its loop device."""
    if not agent.in_container:
        pytest.skip("only a container has copies of the host's mounts")
    image = agent.root / f"{tenant('p')}.img"
    [loop] = loops_of(image)
    assert agent.ok("remove", tenant("p"))["removed"] is True
    assert not image.exists() and loops_of(image) == []
    backing = Path(f"/sys/block/{Path(loop).name}/loop/backing_file")
    assert not backing.exists() or str(image) not in backing.read_text()


def test_a_disk_keeps_its_claim_so_a_new_tenant_with_the_id_never_gets_it(agent: Agent) -> None:
    claim, other = uuid.uuid4().hex, uuid.uuid4().hex
    args = ["--gib", "1", "--inodes", "65536", "--uid", str(UIDS["k"])]
    agent.ok("create", tenant("k"), *args, "--claim", claim)
    assert agent.write("k", "earlier", MIB)["error"] is None
    kept = agent.digest("k", "earlier")
    subprocess.run(["umount", str(agent.root / "mnt" / tenant("k"))], check=True, timeout=60)
    shown = agent.ok("show", tenant("k"))  # read from the unmounted image
    assert (shown["claim"], shown["mounted"]) == (claim, False)
    refused = agent.disks("create", tenant("k"), *args, "--claim", other)
    assert refused.code == 3 and "earlier tenant" in refused.err
    assert agent.ok("create", tenant("k"), *args, "--claim", claim)["claim"] == claim  # a retried create
    assert agent.ok("release", tenant("k"))["claim"] is None
    assert agent.ok("create", tenant("k"), *args, "--claim", other)["claim"] == other  # adopted, data kept
    assert agent.digest("k", "earlier") == kept


NAMESPACE_PROBE = """
import os, pathlib, socket
from data_agent.disks import namespace_pid
pid = namespace_pid(pathlib.Path("/proc"), os.getpid())
cmdline = open(f"/proc/{pid}/cmdline").read().split("\\0")
print(pid, open(f"/proc/{pid}/comm").read().strip(), os.readlink(f"/proc/{pid}/ns/mnt"), socket.gethostname(), *cmdline)
"""


def test_in_its_container_the_agent_enters_the_namespace_of_its_own_shim_which_is_the_daemons(
    engine: docker.DockerClient, images: dict[str, str]
) -> None:
    # Nothing tells it a pid (another daemon on the host, or pids wrapping past the daemon's, cannot mislead it).
    tag = agent_image(engine, images)
    shown = engine.containers.run(
        tag, ["-c", NAMESPACE_PROBE], entrypoint=["python3"], pid_mode="host", network_mode="none",
        cap_add=["SYS_PTRACE"], security_opt=["apparmor=unconfined"], remove=True, labels=LABELS,
    ).decode().split()  # fmt: skip
    pid, comm, namespace, short_id, *cmdline = shown
    assert comm == "containerd-shim", shown
    assert any(arg.startswith(short_id) for arg in cmdline), f"the shim of another container: {shown}"
    daemon = Path("/var/run/docker.pid").read_text().strip()
    assert os.readlink(f"/proc/{daemon}/ns/mnt") == namespace, f"shim {pid} is not in dockerd {daemon}'s namespace"


def test_serve_mounts_what_a_reboot_unmounted(agent: Agent) -> None:
    agent.create("t")
    assert agent.write("t", "before-reboot", MIB)["error"] is None
    kept = agent.digest("t", "before-reboot")
    mount = agent.root / "mnt" / tenant("t")
    subprocess.run(["umount", str(mount)], check=True, timeout=60)  # as a reboot leaves it
    assert agent.ok("show", tenant("t"))["mounted"] is False
    assert not agent.data("t").exists()  # nothing to bind: a gateway cannot start on the host's disk
    if agent.container is not None:
        starts = len(reports(agent.container))
        agent.container.restart(timeout=10)
        served = wait_serving(agent.container, starts + 1)
    else:
        served = serve_once(agent)
    assert tenant("t") in served["mounted"] and served["failed"] == {}
    assert agent.ok("show", tenant("t"))["mounted"] is True
    assert agent.digest("t", "before-reboot") == kept
    listed = agent.ok("list")  # the agent's health check
    assert tenant("t") in [entry["tenant"] for entry in listed] and all(entry["mounted"] for entry in listed)


def serve_once(agent: Agent) -> dict[str, Any]:
    """`disks serve` on the host: its report, then SIGTERM ends it with status 0."""
    env = {**os.environ, DISK_ROOT_ENV: str(agent.root), d.HOST_PID_ENV: agent.pid}
    argv = [sys.executable, "-m", "data_agent", "disks", "serve"]
    with subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            report = json.loads(proc.stdout.readline())
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            proc.kill()
    return dict(report)


class held_open:  # noqa: N801 - used as a context manager, read as a phrase
    """A tenant process with a file open on its disk: a gateway that is running."""

    def __init__(self, agent: Agent, key: str) -> None:
        self.agent, self.key = agent, key
        self.proc: subprocess.Popen[str] | None = None
        self.container: Container | None = None

    def __enter__(self) -> None:
        uid = UIDS[self.key]
        script = "import sys, time; f = open(sys.argv[1], 'ab'); print('open', flush=True); time.sleep(600)"
        if self.agent.engine is None:
            with self.agent.data_handle(self.key) as data:
                self.proc = subprocess.Popen(
                    ["/usr/bin/python3", "-c", script, f"{data}/held"], user=uid, group=uid, extra_groups=[],
                    stdout=subprocess.PIPE, text=True, cwd="/", pass_fds=(int(data.rsplit("/", 1)[1]),),
                )  # fmt: skip
                assert self.proc.stdout is not None and self.proc.stdout.readline() == "open\n"
            return
        self.container = self.agent.engine.containers.run(
            self.agent.image, ["-c", script, "/data/held"], entrypoint=["python3"], user=f"{uid}:{uid}",
            network_mode="none", cap_drop=["ALL"], read_only=True, labels=LABELS, detach=True,
            volumes={self.agent.volume(self.key): {"bind": "/data", "mode": "rw"}}, name=f"{PREFIX}held-{RUN}",
        )  # fmt: skip
        container = self.container
        wait_until(lambda: "open" in container.logs().decode(), 60)

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self.container is not None:
            self.container.remove(force=True)
