"""Per-tenant disks on a Docker host: one sparse ext4 image per tenant, loop-mounted in the host's mount
namespace, so a tenant's bytes and inodes end at its quota while its neighbours and the host keep theirs.

The agent runs in a container with the host's pids and the target's disk root bind-mounted at
the same path. It mounts with ``nsenter`` into the mount namespace of the Docker daemon (``OPENCLAW_HOST_PID``,
default the agent's own containerd shim, which shares the daemon's namespace; outside a container, its own),
because that is the namespace Docker's bind volumes resolve in; it reaches files on a mounted
disk through ``/proc/<pid>/root`` for the same reason (its own namespace never sees those mounts). The file
system tools run on the host too, so an image always matches the kernel and e2fsprogs that grow it.

Stdlib only: the agent's image has no pip.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tenants.data_names import DISK_DATA_DIR, DISK_IMAGE_SUFFIX, DISK_MOUNTS_DIR, DISK_ROOT_ENV

from .host_fs import (
    EXIT_FAILED,
    CommandError,
    DiskError,
    Mount,
    Runner,
    parse_mountinfo,
    read_superblock,
    run_command,
)
from .locking import LockTimeout, file_lock

HOST_PID_ENV: Final = "OPENCLAW_HOST_PID"  # a process in the daemon's mount namespace (the agent's shim, unless told)

GIB: Final = 1 << 30
MAX_GIB: Final = 16 * 1024  # ext4 with 4 KiB blocks grows online far beyond; a quota above 16 TiB is a typo
MAX_INODES_PER_GIB: Final = GIB // 4096  # one inode per 4 KiB block: mkfs refuses more
MAX_UID: Final = (1 << 32) - 2
MOUNT_OPTIONS: Final = "loop,nodev,nosuid"

SHORT_S: Final = 60.0  # mount, umount, losetup
MKFS_S: Final = 600.0
RESIZE_S: Final = 1800.0  # an online grow of a large disk writes new group descriptors and inode tables
LOCK_WAIT_S: Final = 600.0  # one mutating command at a time per disk root
LOCK_FILE: Final = ".lock"
DETACH_WAIT_S: Final = 10.0

E2FSCK_CORRECTED: Final = 1  # e2fsck's exit status for "errors found and fixed"
CAP_SYS_RESOURCE: Final = "CAP_SYS_RESOURCE"

EXIT_REFUSED: Final = 2
EXIT_EXISTS: Final = 3
EXIT_ABSENT: Final = 4

CLAIM_FILE: Final = "claim"
CLAIM: Final = re.compile(r"^[0-9a-f]{8,64}$")  # the deployment's random id for the tenant's disk
TENANT_ID: Final = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")  # the model's rule: a DNS label, 3-40


def check_id(tenant_id: str) -> str:
    """Only a tenant id names a disk, so no argument ever reaches a path outside the root."""
    if not TENANT_ID.match(tenant_id):
        raise DiskError(
            f"{tenant_id!r} is not a tenant id (3 to 40 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit)",
            EXIT_REFUSED,
        )
    return tenant_id


SHIM_COMM: Final = "containerd-shim"  # the kernel's 15-character comm of every containerd-shim-* binary
ANCESTORS_MAX: Final = 64  # a bounded walk up the process tree


def _parent(proc: Path, pid: int) -> int | None:
    try:
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    found = re.search(r"^PPid:\s*(\d+)$", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def namespace_pid(proc: Path, pid: int) -> int:
    """The process whose mount namespace disks go into: the containerd shim that runs this container,
    the nearest ``containerd-shim`` among ``pid``'s ancestors (the agent sees the host's pids). The shim
    shares the mount namespace of the containerd and the daemon that started it, so it is the daemon's
    namespace on any host, also one running several daemons, and it lives exactly as long as the agent.
    Outside a container (a host's own tools), ``pid`` itself: its namespace is the host's."""
    current: int | None = pid
    for _ in range(ANCESTORS_MAX):
        if current is None or current <= 1:
            break
        try:
            comm = (proc / str(current) / "comm").read_text().strip()
        except OSError:
            break
        if comm.startswith(SHIM_COMM):
            return current
        current = _parent(proc, current)
    return pid


@dataclass(frozen=True)
class Disks:
    """One target's disks: ``<root>/<id>.img``, mounted at ``<root>/mnt/<id>``, the tenant's data in ``data/``."""

    root: Path
    run: Runner = run_command
    host_pid: int = 1
    proc: Path = Path("/proc")
    sleep: Callable[[float], None] = field(default=time.sleep)
    device_of: Callable[[Path], str] = field(default=lambda path: _device(os.stat(path)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str], run: Runner = run_command) -> Disks:
        root = environ.get(DISK_ROOT_ENV, "")
        if not root.startswith("/") or os.path.normpath(root) != root or root == "/":
            raise DiskError(f"{DISK_ROOT_ENV} must be an absolute, normalised directory, not {root!r}", EXIT_REFUSED)
        pid = environ.get(HOST_PID_ENV) or str(namespace_pid(Path("/proc"), os.getpid()))
        if not pid.isdigit() or int(pid) < 1:
            raise DiskError(f"{HOST_PID_ENV} must be a process id, not {pid!r}", EXIT_REFUSED)
        return cls(Path(root), run, int(pid))

    # --- where things are ---------------------------------------------------------------------------

    def image(self, tenant_id: str) -> Path:
        return self.root / f"{tenant_id}{DISK_IMAGE_SUFFIX}"

    def mount_dir(self, tenant_id: str) -> Path:
        return self.root / DISK_MOUNTS_DIR / tenant_id

    def data_dir(self, tenant_id: str) -> Path:
        return self.mount_dir(tenant_id) / DISK_DATA_DIR

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        names = (p.name.removesuffix(DISK_IMAGE_SUFFIX) for p in self.root.glob(f"*{DISK_IMAGE_SUFFIX}"))
        return sorted(name for name in names if TENANT_ID.match(name))

    def _host(self, path: Path) -> Path:
        """``path`` as the host's mount namespace resolves it: on a mounted disk, not under it."""
        return Path(f"{self.proc}/{self.host_pid}/root{path}")

    def _in_host(self, *argv: str) -> list[str]:
        return ["nsenter", "-t", str(self.host_pid), "-m", "--", *argv]

    def _mounts(self, pid: str) -> list[Mount]:
        try:
            return parse_mountinfo((self.proc / pid / "mountinfo").read_text())
        except OSError as exc:
            raise DiskError(f"cannot read the mounts of pid {pid}: {exc.strerror}") from exc

    def _namespace(self, pid: str) -> str:
        try:
            return os.readlink(self.proc / pid / "ns" / "mnt")
        except OSError as exc:
            raise DiskError(
                f"cannot reach the mount namespace of pid {pid} ({exc.strerror}): the agent needs the host's pids "
                f"and privileges, or {HOST_PID_ENV} naming a process of the host's namespace"
            ) from exc

    def mounted(self, tenant_id: str) -> Mount | None:
        point = str(self.mount_dir(tenant_id))
        found = [m for m in self._mounts(str(self.host_pid)) if m.point == point]
        return found[-1] if found else None

    # --- commands -----------------------------------------------------------------------------------

    def create(self, tenant_id: str, gib: int, inodes: int, uid: int, claim: str | None = None) -> dict[str, Any]:
        """A new, empty disk. Where the id's image exists it is the same tenant's only if it carries ``claim``
        (a create run again) or no claim at all (released for adoption); otherwise exit 3: an earlier tenant's."""
        check_id(tenant_id)
        _check_gib(gib)
        if not 1 <= inodes <= gib * MAX_INODES_PER_GIB:
            raise DiskError(f"--inodes must be 1 to {gib * MAX_INODES_PER_GIB} for {gib} GiB", EXIT_REFUSED)
        if not 0 <= uid <= MAX_UID:
            raise DiskError(f"--uid must be 0 to {MAX_UID}", EXIT_REFUSED)
        if claim is not None and not CLAIM.match(claim):
            raise DiskError("--claim must be 8 to 64 lowercase hex digits", EXIT_REFUSED)
        image = self.image(tenant_id)
        with self._locked():
            if image.exists():
                return self._reclaim(tenant_id, claim)
            partial = self.root / f".{tenant_id}{DISK_IMAGE_SUFFIX}.partial"
            partial.unlink(missing_ok=True)
            try:
                with partial.open("xb") as f:
                    os.fchmod(f.fileno(), 0o600)
                    os.ftruncate(f.fileno(), gib * GIB)  # sparse: the host gives blocks only as they are written
                self.run(self._mkfs(partial, inodes, uid), MKFS_S)
                os.link(partial, image)  # never over an image that appeared meanwhile
            except FileExistsError as exc:
                raise DiskError(_exists(tenant_id, image), EXIT_EXISTS) from exc
            finally:
                partial.unlink(missing_ok=True)
            try:
                self._mount(tenant_id)
                if claim is not None:
                    self._write_claim(tenant_id, claim)
            except (DiskError, OSError):
                self._discard_new(tenant_id)
                raise
        _say(f"disk {tenant_id}: {gib} GiB, {inodes} inodes, owner {uid}, mounted at {self.mount_dir(tenant_id)}")
        return self.show(tenant_id)

    def release(self, tenant_id: str) -> dict[str, Any]:
        """Lift the disk's claim: the operator has checked it is the customer's, so the next create with a new
        claim (the tenant added again) takes it, data and all."""
        check_id(tenant_id)
        _stat(self.image(tenant_id), tenant_id)
        with self._locked():
            self._mount(tenant_id)
            (self._host(self.mount_dir(tenant_id)) / CLAIM_FILE).unlink(missing_ok=True)
        _say(f"disk {tenant_id}: released; the next create of {tenant_id} takes it")
        return self.show(tenant_id)

    def grow(self, tenant_id: str, gib: int) -> dict[str, Any]:
        """Online: the tenant keeps running. Idempotent, so a grow cut short is finished by running it again."""
        check_id(tenant_id)
        _check_gib(gib)
        image = self.image(tenant_id)
        with self._locked():
            size = self._size(tenant_id)
            if gib * GIB < size:
                raise DiskError(
                    f"disk {tenant_id} has {size / GIB:g} GiB; shrinking it to {gib} GiB is refused "
                    "(an ext4 file system in use is never shrunk)",
                    EXIT_REFUSED,
                )
            self._mount(tenant_id)
            os.truncate(image, gib * GIB)
            loop = self._loop_of(tenant_id)
            self.run(self._in_host("losetup", "-c", loop), SHORT_S)
            try:
                self.run(self._in_host("resize2fs", loop), RESIZE_S)
            except CommandError as exc:
                if "Permission denied" not in exc.stderr:
                    raise
                self._grow_offline(tenant_id, loop, size)
        _say(f"disk {tenant_id}: {gib} GiB")
        return self.show(tenant_id)

    def show(self, tenant_id: str) -> dict[str, Any]:
        check_id(tenant_id)
        image = self.image(tenant_id)
        st = _stat(image, tenant_id)
        mount = self.mounted(tenant_id)
        if mount is not None:
            v = os.statvfs(self._host(self.mount_dir(tenant_id)))
            counts = (v.f_files, (v.f_blocks - v.f_bfree) * v.f_frsize, v.f_bavail * v.f_frsize, v.f_ffree)
        else:
            sb = read_superblock(image)
            used = (sb.blocks - sb.free_blocks) * sb.block_size
            counts = (sb.inodes, used, sb.free_blocks * sb.block_size, sb.free_inodes)
        inodes, used_bytes, free_bytes, free_inodes = counts
        return {
            "tenant": tenant_id,
            "image": str(image),
            "mount": str(self.mount_dir(tenant_id)),
            "data": str(self.data_dir(tenant_id)),
            "gib": st.st_size // GIB,
            "inodes": inodes,
            "mounted": mount is not None,
            "used_bytes": used_bytes,
            "free_bytes": free_bytes,
            "used_inodes": inodes - free_inodes,
            "free_inodes": free_inodes,
            "image_bytes": st.st_blocks * 512,  # what the image takes of the host's file system now
            "claim": self._claim(tenant_id, mounted=mount is not None),
        }

    def remove(self, tenant_id: str) -> dict[str, Any]:
        """Delete a disk and everything on it. Refused while anything still has it mounted or open."""
        check_id(tenant_id)
        image, mount_dir = self.image(tenant_id), self.mount_dir(tenant_id)
        removed = False
        with self._locked():
            self._drop_own_copies(str(mount_dir))
            mount = self.mounted(tenant_id)
            if mount is not None:
                self._unmount(tenant_id, mount, "remove it")
                removed = True
            if image.exists():
                self._detach(tenant_id)
                image.unlink()
                removed = True
            try:
                mount_dir.rmdir()
                removed = True
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise DiskError(f"cannot remove {mount_dir}: {exc.strerror}") from exc
        _say(f"disk {tenant_id}: {'removed' if removed else 'none'}")
        return {"tenant": tenant_id, "removed": removed}

    def list_all(self) -> list[dict[str, Any]]:
        return [self.show(tenant_id) for tenant_id in self.ids()]

    def serve(self, wait: Callable[[], None]) -> int:
        """Mount every disk not mounted yet (after a reboot: all of them), report, then ``wait``."""
        mounted, failed = [], {}
        with self._locked():
            self._drop_own_copies(str(self.root / DISK_MOUNTS_DIR))
            for tenant_id in self.ids():
                try:
                    self._mount(tenant_id)
                    mounted.append(tenant_id)
                except DiskError as exc:
                    failed[tenant_id] = str(exc)
                    print(
                        json.dumps({"event": "mount-failed", "tenant": tenant_id, "error": str(exc)}), file=sys.stderr
                    )
        print(json.dumps({"mounted": mounted, "failed": failed}), flush=True)
        _say(f"{len(mounted)} disks mounted, {len(failed)} failed; waiting for SIGTERM")
        wait()
        return EXIT_FAILED if failed else 0

    # --- steps ---------------------------------------------------------------------------------------

    def _mkfs(self, image: Path, inodes: int, uid: int) -> list[str]:
        """No reserved blocks (the quota is all the tenant's), exactly ``inodes`` (rounded up to fill whole inode
        tables), the root owned by the tenant. Left to discard the fresh file, mkfs knows its inode tables read
        as zeros, so the kernel never writes them out in the background: the image takes only what is used."""
        owner = f"root_owner={uid}:{uid}"
        return self._in_host("mkfs.ext4", "-q", "-F", "-m", "0", "-N", str(inodes), "-E", owner, str(image))

    def _mount(self, tenant_id: str) -> None:
        mount_dir = self.mount_dir(tenant_id)
        mount = self.mounted(tenant_id)
        if mount is None:
            mount_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            image = str(self.image(tenant_id))
            self.run(self._in_host("mount", "-t", "ext4", "-o", MOUNT_OPTIONS, image, str(mount_dir)), SHORT_S)
            mount = self.mounted(tenant_id)
            if mount is None:
                raise DiskError(f"disk {tenant_id}: mount reported success but {mount_dir} is not mounted")
        self._ensure_data(tenant_id, mount)

    def _unmount(self, tenant_id: str, mount: Mount, then: str) -> None:
        """Only the last mount: while anything else still has the file system, refuse (exit 1)."""
        self._drop_own_copies(str(self.mount_dir(tenant_id)))
        users = self._other_users(mount)
        if users:
            raise DiskError(f"disk {tenant_id} is in use ({'; '.join(users)}); stop its users, then {then} again")
        try:
            self.run(self._in_host("umount", str(self.mount_dir(tenant_id))), SHORT_S)
        except CommandError as exc:
            if "busy" not in exc.stderr:
                raise
            raise DiskError(
                f"disk {tenant_id} is busy: a process has files open under {self.mount_dir(tenant_id)}; "
                f"stop it, then {then} again"
            ) from exc

    def _grow_offline(self, tenant_id: str, loop: str, size: int) -> None:
        """The kernel grows a mounted ext4 only for CAP_SYS_RESOURCE, which some hosts withhold even from a
        privileged container: then a disk nothing uses is grown unmounted (checked first, as resize2fs asks).
        A disk in use keeps running at its old size, its image cut back to it (the file system never grew)."""
        why = f"the kernel refused an online grow: no {CAP_SYS_RESOURCE}"
        image = self.image(tenant_id)
        mount = self.mounted(tenant_id)
        if mount is not None:
            try:
                self._unmount(tenant_id, mount, f"grow it ({why})")
            except DiskError:
                os.truncate(image, size)
                self.run(self._in_host("losetup", "-c", loop), SHORT_S)
                raise
        try:
            try:
                self.run(self._in_host("e2fsck", "-f", "-p", str(image)), RESIZE_S)
            except CommandError as exc:
                if exc.returncode != E2FSCK_CORRECTED:
                    raise
            self.run(self._in_host("resize2fs", str(image)), RESIZE_S)
        finally:
            self._mount(tenant_id)
        _say(f"disk {tenant_id}: grown unmounted ({why})")

    def _reclaim(self, tenant_id: str, claim: str | None) -> dict[str, Any]:
        image = self.image(tenant_id)
        if claim is None:
            raise DiskError(_exists(tenant_id, image), EXIT_EXISTS)
        self._mount(tenant_id)
        held = self._claim(tenant_id, mounted=True)
        if held is not None and held != claim:
            raise DiskError(_exists(tenant_id, image), EXIT_EXISTS)
        if held is None:
            self._write_claim(tenant_id, claim)
            _say(f"disk {tenant_id}: unclaimed, now claimed by this tenant (its data kept)")
        return self.show(tenant_id)

    def _claim(self, tenant_id: str, mounted: bool) -> str | None:
        """The claim in the disk's root, beside ``data/`` (so out of the tenant's reach); None: unclaimed."""
        if mounted:
            try:
                text = (self._host(self.mount_dir(tenant_id)) / CLAIM_FILE).read_text()
            except FileNotFoundError:
                return None
        else:  # without mounting it: debugfs reads the unmounted image
            command = self._in_host("debugfs", "-R", f"cat /{CLAIM_FILE}", str(self.image(tenant_id)))
            text = self.run(command, SHORT_S)
        return text.strip() or None

    def _write_claim(self, tenant_id: str, claim: str) -> None:
        path = self._host(self.mount_dir(tenant_id)) / CLAIM_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{claim}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _discard_new(self, tenant_id: str) -> None:
        """A disk that never mounted holds nothing: delete it, so running create again is not refused."""
        if self.mounted(tenant_id) is not None:
            self.run(self._in_host("umount", str(self.mount_dir(tenant_id))), SHORT_S)
        self.image(tenant_id).unlink(missing_ok=True)

    def _ensure_data(self, tenant_id: str, mount: Mount) -> None:
        """``data/`` on the disk, owned like the disk's root (the tenant's uid), mode 0700."""
        top = self._host(self.mount_dir(tenant_id))
        if self.device_of(top) != mount.device:
            raise DiskError(f"disk {tenant_id}: {top} does not show the mounted disk; refusing to write there")
        data = top / DISK_DATA_DIR
        if data.is_dir():
            return
        owner = top.stat()
        data.mkdir(mode=0o700)
        os.chown(data, owner.st_uid, owner.st_gid)
        data.chmod(0o700)

    def _size(self, tenant_id: str) -> int:
        return _stat(self.image(tenant_id), tenant_id).st_size

    def _loops(self, tenant_id: str) -> list[str]:
        out = self.run(self._in_host("losetup", "-n", "-O", "NAME", "-j", str(self.image(tenant_id))), SHORT_S)
        return [line.strip() for line in out.splitlines() if line.strip()]

    def _loop_of(self, tenant_id: str) -> str:
        mount = self.mounted(tenant_id)
        if mount is not None and mount.source.startswith("/dev/loop"):
            return mount.source
        loops = self._loops(tenant_id)
        if len(loops) != 1:
            raise DiskError(f"disk {tenant_id}: expected one loop device, found {len(loops)}")
        return loops[0]

    def _detach(self, tenant_id: str) -> None:
        """Unmounting released the loop device (mount sets autoclear); detach any left over, and wait for it."""
        deadline = time.monotonic() + DETACH_WAIT_S
        for loop in self._loops(tenant_id):
            with suppress(CommandError):  # released meanwhile
                self.run(self._in_host("losetup", "-d", loop), SHORT_S)
        while loops := self._loops(tenant_id):
            if time.monotonic() > deadline:
                raise DiskError(f"disk {tenant_id}: {', '.join(loops)} still attached to {self.image(tenant_id)}")
            self.sleep(0.2)

    def _other_users(self, mount: Mount) -> list[str]:
        """Every other mount of the disk's file system: in the host's namespace (a Docker volume's bind) or in
        another (a container binding its data). Unmounting the host's mount would leave those writing."""
        host_ns = self._namespace(str(self.host_pid))
        own_ns = self._namespace("self")
        users = [f"also mounted at {m.point}" for m in self._mounts(str(self.host_pid)) if _same_fs(m, mount)]
        seen = {host_ns, own_ns}
        for pid in sorted((p.name for p in self.proc.iterdir() if p.name.isdigit()), key=int):
            try:
                namespace = os.readlink(self.proc / pid / "ns" / "mnt")
                if namespace in seen:
                    continue
                seen.add(namespace)
                mounts = parse_mountinfo((self.proc / pid / "mountinfo").read_text())
                comm = (self.proc / pid / "comm").read_text().strip()
            except OSError:
                continue  # gone, or not ours to read
            if any(m.device == mount.device for m in mounts):
                users.append(f"mounted in the namespace of pid {pid} ({comm})")
        return users

    def _drop_own_copies(self, under: str) -> None:
        """Docker's recursive bind of the root gave this container copies of the disks mounted when it
        started; each would keep its disk's file system alive after the host unmounts it."""
        if self._namespace("self") == self._namespace(str(self.host_pid)):
            return
        copies = [m.point for m in self._mounts("self") if m.point == under or m.point.startswith(f"{under}/")]
        for point in sorted(set(copies), reverse=True):
            self.run(["umount", point], SHORT_S)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One mutating command at a time on this root: the serve loop's mounts and `docker exec` commands."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.root / DISK_MOUNTS_DIR).mkdir(mode=0o700, exist_ok=True)
        try:
            with file_lock(self.root / LOCK_FILE, LOCK_WAIT_S, f"another disks command on {self.root}"):
                yield
        except LockTimeout as exc:
            raise DiskError(str(exc)) from exc


def _device(st: os.stat_result) -> str:
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


def _same_fs(other: Mount, mount: Mount) -> bool:
    return other.device == mount.device and other.point != mount.point


def _stat(image: Path, tenant_id: str) -> os.stat_result:
    try:
        return image.stat()
    except FileNotFoundError:
        raise DiskError(f"no disk for {tenant_id} (no {image})", EXIT_ABSENT) from None


def _exists(tenant_id: str, image: Path) -> str:
    return (
        f"a disk for {tenant_id} already exists at {image}: it holds the data of an earlier tenant with this id; "
        "restore that tenant, or purge it first"
    )


def _check_gib(gib: int) -> None:
    if not 1 <= gib <= MAX_GIB:
        raise DiskError(f"--gib must be 1 to {MAX_GIB}", EXIT_REFUSED)


def _say(text: str) -> None:
    print(text, file=sys.stderr)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT (both already blocked, so one sent early is not lost)."""
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="data_agent disks", description="Per-tenant disks of a Docker target.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="mount every disk, then wait for SIGTERM")
    create = commands.add_parser("create", help="make and mount a tenant's disk (exit 3 if it exists)")
    create.add_argument("tenant")
    create.add_argument("--gib", type=int, required=True)
    create.add_argument("--inodes", type=int, required=True)
    create.add_argument("--uid", type=int, required=True)
    create.add_argument("--claim", help="the deployment's id for this disk: written into it, checked on reuse")
    grow = commands.add_parser("grow", help="grow a disk online (shrinking is refused: exit 2)")
    grow.add_argument("tenant")
    grow.add_argument("--gib", type=int, required=True)
    for name, text in (
        ("show", "a disk's sizes and claim (exit 4 if none)"),
        ("release", "lift a disk's claim, so the tenant's next create takes it"),
        ("remove", "unmount and delete a disk"),
    ):
        commands.add_parser(name, help=text).add_argument("tenant")
    commands.add_parser("list", help="every disk's sizes")
    return parser


def main(argv: list[str], disks: Disks | None = None) -> int:
    """``python3 -m data_agent disks ...``: one JSON document on stdout, a one-line error on stderr.
    ``disks`` defaults to the environment's (tests pass their own)."""
    try:
        ns = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage
        return exc.code if isinstance(exc.code, int) else EXIT_REFUSED
    if ns.command == "serve":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        disks = disks or Disks.from_env(os.environ)
        doc: Any
        if ns.command == "serve":
            return disks.serve(wait_for_signal)
        if ns.command == "create":
            doc = disks.create(ns.tenant, ns.gib, ns.inodes, ns.uid, ns.claim)
        elif ns.command == "grow":
            doc = disks.grow(ns.tenant, ns.gib)
        elif ns.command == "show":
            doc = disks.show(ns.tenant)
        elif ns.command == "release":
            doc = disks.release(ns.tenant)
        elif ns.command == "remove":
            doc = disks.remove(ns.tenant)
        else:
            doc = disks.list_all()
    except DiskError as exc:
        print(f"data_agent disks: {exc}", file=sys.stderr)
        return exc.code
    except OSError as exc:
        print(f"data_agent disks: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(doc))
    return 0
