"""The disk agent's command lines and refusals, against a fake host: its tools are recorded, and its mount
table (a mountinfo file under a fake /proc) follows what the fake mount and umount do."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

from data_agent import disks as d
from data_agent import host_fs as h
from tenants.data_names import DISK_ROOT_ENV

UID = os.getuid()  # the fake cannot give a disk's root to another uid; the command line still names it
GIB = 1 << 30
HOST = ["nsenter", "-t", "1", "-m", "--"]
PERMISSION_DENIED = "resize2fs 1.47.0 (5-Feb-2023)\nresize2fs: Permission denied to resize filesystem"


class FakeHost:
    """The host's tools and mount table: every command line with its timeout, in order."""

    def __init__(self, proc: Path) -> None:
        self.proc = proc
        self.calls: list[list[str]] = []
        self.timeouts: list[float] = []
        self.loops: dict[str, str] = {}  # image → its loop device
        self.failures: dict[str, h.CommandError] = {}  # tool → what it fails with, once
        self.mount_shows: bool = True  # False: mount "succeeds" but the table does not change
        self.mount_seen: bool = True  # False: the table changes but the mount point still shows the host's fs
        self.devices: dict[str, str] = {}  # mount point → the device a stat there reports
        self.next_loop = 0
        for pid, namespace in (("1", "mnt:[4026531832]"), ("self", "mnt:[4026531832]")):
            (proc / pid / "ns").mkdir(parents=True)
            (proc / pid / "ns" / "mnt").symlink_to(namespace)
            (proc / pid / "mountinfo").write_text("22 1 0:21 / /proc rw - proc proc rw\n")
        (proc / "1" / "root").symlink_to("/")

    def __call__(self, argv: Sequence[str], timeout_s: float) -> str:
        self.calls.append(list(argv))
        self.timeouts.append(timeout_s)
        tool = list(argv[5:]) if argv[0] == "nsenter" else list(argv)
        if tool[0] in self.failures:
            raise self.failures.pop(tool[0])
        if tool[0] == "mkfs.ext4":
            write_superblock(Path(tool[-1]), inodes=128, free_inodes=117, blocks=262144, free_blocks=250000)
        elif tool[0] == "mount" and self.mount_shows:
            image, point = tool[-2], tool[-1]
            device = f"7:{self.next_loop}"
            self.loops[image] = f"/dev/loop{self.next_loop}"
            self.next_loop += 1
            self.add_mount("1", device, point, self.loops[image])
            self._swap(point, self.proc.parent / "fs" / Path(image).name)  # the disk's files appear
            if self.mount_seen:
                self.devices[point] = device
        elif tool[0] == "umount":
            pid = "1" if argv[0] == "nsenter" else "self"
            info = self.proc / pid / "mountinfo"
            kept = [line for line in info.read_text().splitlines() if line.split(" ")[4] != tool[-1]]
            info.write_text("".join(f"{line}\n" for line in kept))
            if pid == "1":
                self._swap(tool[-1], self.proc.parent / "fs" / f"{Path(tool[-1]).name}.img")  # and go again
                self.loops = {image: loop for image, loop in self.loops.items() if not point_of(image, tool[-1])}
                self.devices.pop(tool[-1], None)
        elif tool[0] == "debugfs":  # `cat /claim` of an unmounted image: its files are set aside
            claim = self.proc.parent / "fs" / Path(tool[-1]).name / tool[2].removeprefix("cat /")
            return claim.read_text() if claim.exists() else ""
        elif tool[:4] == ["losetup", "-n", "-O", "NAME"]:
            return "".join(f"{loop}\n" for image, loop in self.loops.items() if image == tool[-1])
        return ""

    @staticmethod
    def _swap(point: str, disk: Path) -> None:
        """Exchange what is under ``point`` with what is on ``disk`` (each a directory of its own)."""
        disk.mkdir(parents=True, exist_ok=True)
        aside = disk.with_name(f"{disk.name}.swap")
        Path(point).rename(aside)
        disk.rename(point)
        aside.rename(disk)

    def device_of(self, path: Path) -> str:
        """What stat reports: the mounted disk's device at its mount point, the host's file system elsewhere."""
        st = os.stat(path)
        return self.devices.get(str(path.resolve()), f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}")

    def add_mount(self, pid: str, device: str, point: str, source: str = "/dev/loop9") -> None:
        info = self.proc / pid / "mountinfo"
        info.write_text(info.read_text() + f"90 1 {device} / {point} rw,nosuid,nodev shared:1 - ext4 {source} rw\n")

    def namespace(self, pid: str, namespace: str, comm: str = "openclaw") -> None:
        (self.proc / pid / "ns").mkdir(parents=True)
        (self.proc / pid / "ns" / "mnt").symlink_to(namespace)
        (self.proc / pid / "mountinfo").write_text("")
        (self.proc / pid / "comm").write_text(f"{comm}\n")

    def tools(self) -> list[list[str]]:
        """The command lines without the nsenter prefix (a list only when every call had it)."""
        assert all(call[:5] == HOST for call in self.calls), self.calls
        return [call[5:] for call in self.calls]


def point_of(image: str, point: str) -> bool:
    return Path(image).stem == Path(point).name


def write_superblock(image: Path, *, inodes: int, free_inodes: int, blocks: int, free_blocks: int) -> None:
    raw = bytearray(1024)
    struct.pack_into("<5I", raw, 0, inodes, blocks, 0, free_blocks, free_inodes)
    struct.pack_into("<I", raw, 0x18, 2)  # 4 KiB blocks
    struct.pack_into("<H", raw, 0x38, h.EXT4_MAGIC)
    with image.open("r+b") as f:
        f.seek(1024)
        f.write(raw)


@pytest.fixture
def host(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path / "proc")


@pytest.fixture
def disks(tmp_path: Path, host: FakeHost) -> d.Disks:
    return d.Disks(tmp_path / "disks" / "local", host, proc=host.proc, sleep=lambda _s: None, device_of=host.device_of)


def cli(disks: d.Disks, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object, str]:
    code = d.main(list(argv), disks)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def unmount(disks: d.Disks, host: FakeHost, tenant: str) -> None:
    """As a reboot leaves a disk: its image, not mounted."""
    host([*HOST, "umount", str(disks.mount_dir(tenant))], 1)


def create(disks: d.Disks, tenant: str = "acme", gib: int = 1) -> None:
    disks.create(tenant, gib, 65536 * gib, UID)


# --- create --------------------------------------------------------------------------------------


def test_create_makes_a_sparse_image_formats_it_on_the_host_and_mounts_it_there(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc, _ = cli(disks, capsys, "create", "acme", "--gib", "2", "--inodes", "131072", "--uid", "2000001")
    assert code == 0
    image, mount = disks.root / "acme.img", disks.root / "mnt" / "acme"
    partial = disks.root / ".acme.img.partial"
    assert host.tools() == [
        ["mkfs.ext4", "-q", "-F", "-m", "0", "-N", "131072", "-E", "root_owner=2000001:2000001", str(partial)],
        ["mount", "-t", "ext4", "-o", "loop,nodev,nosuid", str(image), str(mount)],
    ]
    st = image.stat()
    assert st.st_size == 2 * GIB
    assert st.st_blocks * 512 < 1 << 20  # sparse
    assert st.st_mode & 0o777 == 0o600
    assert not partial.exists()
    data = mount / "data"
    assert data.is_dir()
    assert data.stat().st_mode & 0o777 == 0o700
    assert isinstance(doc, dict)
    assert doc["tenant"] == "acme"
    assert doc["image"] == str(image)
    assert doc["data"] == str(data)
    assert doc["gib"] == 2
    assert doc["mounted"] is True
    assert set(doc) >= {"inodes", "used_bytes", "free_bytes", "used_inodes", "free_inodes"}


def test_create_over_an_existing_image_exits_3_and_touches_nothing(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks)
    before = host.calls[:]
    (disks.root / "mnt" / "acme" / "data" / "notes").write_text("an earlier tenant's")
    capsys.readouterr()
    code, doc, err = cli(disks, capsys, "create", "acme", "--gib", "1", "--inodes", "100", "--uid", "7")
    assert (code, doc) == (3, None)
    assert "already exists" in err and "earlier tenant" in err
    assert err.count("\n") == 1
    assert host.calls == before
    assert (disks.root / "mnt" / "acme" / "data" / "notes").read_text() == "an earlier tenant's"


def test_a_failed_format_leaves_no_image_so_create_can_run_again(disks: d.Disks, host: FakeHost) -> None:
    host.failures["mkfs.ext4"] = h.CommandError(["mkfs.ext4"], 1, "mkfs.ext4: No space left on device")
    with pytest.raises(h.DiskError, match="No space left"):
        create(disks)
    assert sorted(p.name for p in disks.root.iterdir()) == [".lock", "mnt"]
    create(disks)
    assert (disks.root / "acme.img").exists()


def test_a_disk_that_never_mounts_is_deleted_again(disks: d.Disks, host: FakeHost) -> None:
    host.mount_shows = False
    with pytest.raises(h.DiskError, match="is not mounted"):
        create(disks)
    assert not (disks.root / "acme.img").exists()


def test_data_is_never_made_on_the_hosts_own_file_system(disks: d.Disks, host: FakeHost) -> None:
    """The mount point must show the disk's device before the agent writes under it."""
    host.mount_seen = False
    with pytest.raises(h.DiskError, match="does not show the mounted disk"):
        create(disks)
    assert not (disks.root / "mnt" / "acme" / "data").exists()


@pytest.mark.parametrize(
    "tenant", ["../etc", "ab", "a" * 41, "Acme", "-acme", "acme-", "ac/me", "acme.img", "ac me", ".acme", ""]
)
def test_anything_but_a_tenant_id_is_refused_before_any_command(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str], tenant: str
) -> None:
    for argv in (
        ("create", tenant, "--gib", "1", "--inodes", "100", "--uid", "1"),
        ("grow", tenant, "--gib", "2"),
        ("show", tenant),
        ("remove", tenant),
    ):
        code, doc, err = cli(disks, capsys, *argv)
        assert (code, doc) == (2, None), argv
        assert "is not a tenant id" in err or tenant.startswith("-")  # there argparse refuses an option
    assert host.calls == []
    assert not disks.root.exists()


@pytest.mark.parametrize(
    ("sizes", "refusal"),
    [
        ((0, 100, 1), "--gib must be"),
        ((d.MAX_GIB + 1, 100, 1), "--gib must be"),
        ((1, 0, 1), "--inodes must be"),
        ((1, 262145, 1), "--inodes must be 1 to 262144"),
        ((1, 100, -1), "--uid must be"),
    ],
)
def test_sizes_out_of_range_are_refused(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str], sizes: tuple[int, int, int], refusal: str
) -> None:
    gib, inodes, uid = (str(n) for n in sizes)
    code, _, err = cli(disks, capsys, "create", "acme", "--gib", gib, "--inodes", inodes, "--uid", uid)
    assert code == 2
    assert refusal in err
    assert host.calls == []


# --- claims ---------------------------------------------------------------------------------------

CLAIM, OTHER = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"


def test_a_claimed_disk_carries_its_claim_out_of_the_tenants_reach(disks: d.Disks) -> None:
    doc = disks.create("acme", 1, 65536, UID, CLAIM)
    assert doc["claim"] == CLAIM
    claim = disks.mount_dir("acme") / "claim"
    assert claim.read_text() == f"{CLAIM}\n"
    assert claim.stat().st_mode & 0o777 == 0o600
    assert claim.parent != disks.data_dir("acme")


def test_create_again_with_the_same_claim_is_the_same_disk(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    disks.create("acme", 1, 65536, UID, CLAIM)
    (disks.data_dir("acme") / "notes").write_text("kept")
    unmount(disks, host, "acme")
    host.calls.clear()
    code, doc, _ = cli(
        disks, capsys, "create", "acme", "--gib", "1", "--inodes", "65536", "--uid", "1", "--claim", CLAIM
    )
    assert code == 0
    assert isinstance(doc, dict) and doc["claim"] == CLAIM
    assert [call[0] for call in host.tools()] == ["mount"]  # no mkfs
    assert (disks.data_dir("acme") / "notes").read_text() == "kept"


@pytest.mark.parametrize("claim", [OTHER, None])
def test_create_over_another_claim_or_without_one_exits_3(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str], claim: str | None
) -> None:
    disks.create("acme", 1, 65536, UID, CLAIM)
    host.calls.clear()
    argv = ["create", "acme", "--gib", "1", "--inodes", "65536", "--uid", "1"]
    code, _, err = cli(disks, capsys, *argv, *(["--claim", claim] if claim else []))
    assert code == 3 and "earlier tenant" in err
    assert (disks.mount_dir("acme") / "claim").read_text() == f"{CLAIM}\n"
    assert "mkfs.ext4" not in {call[5] for call in host.calls}


def test_a_released_disk_is_taken_by_the_next_claim_with_its_data(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    disks.create("acme", 1, 65536, UID, CLAIM)
    (disks.data_dir("acme") / "notes").write_text("kept")
    code, doc, _ = cli(disks, capsys, "release", "acme")
    assert code == 0 and isinstance(doc, dict) and doc["claim"] is None
    taken = disks.create("acme", 1, 65536, UID, OTHER)
    assert taken["claim"] == OTHER
    assert (disks.data_dir("acme") / "notes").read_text() == "kept"
    assert cli(disks, capsys, "release", "globex")[0] == 4


def test_show_reads_the_claim_of_an_unmounted_disk_without_mounting_it(disks: d.Disks, host: FakeHost) -> None:
    disks.create("acme", 1, 65536, UID, CLAIM)
    unmount(disks, host, "acme")
    host.calls.clear()
    doc = disks.show("acme")
    assert (doc["claim"], doc["mounted"]) == (CLAIM, False)
    assert host.tools() == [["debugfs", "-R", "cat /claim", str(disks.image("acme"))]]


@pytest.mark.parametrize("claim", ["", "XYZ", "0123456789ABCDEF", "../../etc", "a" * 65])
def test_a_claim_is_hex_digits(disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str], claim: str) -> None:
    code, _, err = cli(disks, capsys, "create", "acme", "--gib", "1", "--inodes", "9", "--uid", "1", "--claim", claim)
    assert code == 2 and "--claim" in err
    assert host.calls == []


# --- grow ----------------------------------------------------------------------------------------


def test_grow_extends_the_image_and_the_mounted_file_system_online(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks)
    host.calls.clear()
    code, doc, _ = cli(disks, capsys, "grow", "acme", "--gib", "3")
    assert code == 0
    assert host.tools() == [["losetup", "-c", "/dev/loop0"], ["resize2fs", "/dev/loop0"]]
    assert (disks.root / "acme.img").stat().st_size == 3 * GIB
    assert isinstance(doc, dict)
    assert doc["gib"] == 3


def test_grow_to_the_same_size_finishes_a_grow_cut_short(disks: d.Disks, host: FakeHost) -> None:
    create(disks)
    os.truncate(disks.root / "acme.img", 2 * GIB)  # the image grew, the file system did not
    host.calls.clear()
    disks.grow("acme", 2)
    assert host.tools() == [["losetup", "-c", "/dev/loop0"], ["resize2fs", "/dev/loop0"]]


def test_grow_mounts_an_unmounted_disk_first(disks: d.Disks, host: FakeHost) -> None:
    create(disks)
    unmount(disks, host, "acme")
    host.calls.clear()
    disks.grow("acme", 2)
    assert [call[0] for call in host.tools()] == ["mount", "losetup", "resize2fs"]


def test_shrinking_is_refused_with_exit_2(disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]) -> None:
    create(disks, gib=2)
    host.calls.clear()
    code, _, err = cli(disks, capsys, "grow", "acme", "--gib", "1")
    assert code == 2
    assert "shrinking" in err and "refused" in err
    assert host.calls == []
    assert (disks.root / "acme.img").stat().st_size == 2 * GIB


def test_growing_a_missing_disk_exits_4(disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(disks, capsys, "grow", "acme", "--gib", "2")
    assert code == 4
    assert "no disk for acme" in err
    assert host.calls == []


def test_when_the_kernel_refuses_an_online_grow_an_unused_disk_is_grown_unmounted(
    disks: d.Disks, host: FakeHost
) -> None:
    create(disks)
    host.calls.clear()
    host.failures["resize2fs"] = h.CommandError(["resize2fs"], 1, PERMISSION_DENIED)
    image, mount = str(disks.root / "acme.img"), str(disks.root / "mnt" / "acme")
    disks.grow("acme", 2)
    assert host.tools() == [
        ["losetup", "-c", "/dev/loop0"],
        ["resize2fs", "/dev/loop0"],
        ["umount", mount],
        ["e2fsck", "-f", "-p", image],
        ["resize2fs", image],
        ["mount", "-t", "ext4", "-o", "loop,nodev,nosuid", image, mount],
    ]
    assert disks.mounted("acme") is not None


def test_when_the_kernel_refuses_an_online_grow_a_disk_in_use_is_left_alone(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks)
    mount = disks.mounted("acme")
    assert mount is not None
    host.namespace("4242", "mnt:[4026532999]", comm="node")
    host.add_mount("4242", mount.device, "/home/node/.openclaw")
    host.failures["resize2fs"] = h.CommandError(["resize2fs"], 1, PERMISSION_DENIED)
    host.calls.clear()
    code, _, err = cli(disks, capsys, "grow", "acme", "--gib", "2")
    assert code == 1
    assert "pid 4242 (node)" in err and "CAP_SYS_RESOURCE" in err
    assert host.tools() == [
        ["losetup", "-c", "/dev/loop0"],
        ["resize2fs", "/dev/loop0"],
        ["losetup", "-c", "/dev/loop0"],  # back to the size the file system still has
    ]
    assert disks.mounted("acme") is not None
    assert (disks.root / "acme.img").stat().st_size == GIB


def test_a_failed_offline_grow_mounts_the_disk_again(disks: d.Disks, host: FakeHost) -> None:
    create(disks)
    host.failures["resize2fs"] = h.CommandError(["resize2fs"], 1, PERMISSION_DENIED)
    host.failures["e2fsck"] = h.CommandError(["e2fsck"], 4, "e2fsck: errors left uncorrected")
    with pytest.raises(h.CommandError, match="uncorrected"):
        disks.grow("acme", 2)
    assert disks.mounted("acme") is not None


def test_e2fsck_fixing_errors_does_not_stop_an_offline_grow(disks: d.Disks, host: FakeHost) -> None:
    create(disks)
    host.failures["resize2fs"] = h.CommandError(["resize2fs"], 1, PERMISSION_DENIED)
    host.failures["e2fsck"] = h.CommandError(["e2fsck"], 1, "FILE SYSTEM WAS MODIFIED")
    disks.grow("acme", 2)
    assert host.tools()[-2][0] == "resize2fs"


def test_other_resize_failures_are_reported_as_they_are(disks: d.Disks, host: FakeHost) -> None:
    create(disks)
    host.failures["resize2fs"] = h.CommandError(["resize2fs"], 1, "resize2fs: No space left on device")
    with pytest.raises(h.CommandError, match="No space left on device"):
        disks.grow("acme", 2)
    assert "e2fsck" not in {call[5] for call in host.calls}


# --- show and list --------------------------------------------------------------------------------


def test_show_of_a_missing_disk_exits_4(disks: d.Disks, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, err = cli(disks, capsys, "show", "acme")
    assert (code, doc) == (4, None)
    assert "no disk for acme" in err


def test_show_of_an_unmounted_disk_reads_its_superblock(disks: d.Disks, host: FakeHost) -> None:
    create(disks)
    unmount(disks, host, "acme")
    doc = disks.show("acme")
    assert doc["mounted"] is False
    assert (doc["inodes"], doc["used_inodes"], doc["free_inodes"]) == (128, 11, 117)
    assert (doc["used_bytes"], doc["free_bytes"]) == (12144 * 4096, 250000 * 4096)


def test_show_refuses_an_image_that_is_not_ext4(disks: d.Disks) -> None:
    disks.root.mkdir(parents=True)
    (disks.root / "acme.img").write_bytes(b"\0" * 4096)
    with pytest.raises(h.DiskError, match="no ext4 file system"):
        disks.show("acme")


def test_list_shows_every_disk_and_nothing_else(disks: d.Disks, capsys: pytest.CaptureFixture[str]) -> None:
    create(disks, "globex")
    create(disks, "acme")
    for stray in ("README", ".acme.img.partial", "Bad.img", "x.img.bak"):
        (disks.root / stray).write_text("")
    code, doc, _ = cli(disks, capsys, "list")
    assert code == 0
    assert isinstance(doc, list)
    assert [entry["tenant"] for entry in doc] == ["acme", "globex"]


def test_list_of_a_root_not_made_yet_is_empty(disks: d.Disks, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(disks, capsys, "list")[:2] == (0, [])


# --- remove ---------------------------------------------------------------------------------------


def test_remove_unmounts_and_deletes_everything_and_is_idempotent(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks)
    create(disks, "globex")
    host.calls.clear()
    code, doc, _ = cli(disks, capsys, "remove", "acme")
    assert (code, doc) == (0, {"tenant": "acme", "removed": True})
    image, mount = disks.root / "acme.img", disks.root / "mnt" / "acme"
    loops = ["losetup", "-n", "-O", "NAME", "-j", str(image)]
    assert host.tools() == [["umount", str(mount)], loops, loops]
    assert not image.exists() and not mount.exists()
    assert disks.mounted("acme") is None
    assert disks.mounted("globex") is not None
    assert cli(disks, capsys, "remove", "acme")[:2] == (0, {"tenant": "acme", "removed": False})


def test_remove_detaches_a_loop_device_left_behind(disks: d.Disks, host: FakeHost) -> None:
    create(disks)
    unmount(disks, host, "acme")
    image = str(disks.root / "acme.img")
    host.loops[image] = "/dev/loop5"
    host.calls.clear()
    removals: list[str] = []

    def detach(argv: Sequence[str], timeout_s: float) -> str:
        if list(argv[5:7]) == ["losetup", "-d"]:
            removals.append(argv[-1])
            host.loops.pop(image)
        return host(argv, timeout_s)

    d.Disks(disks.root, detach, proc=host.proc, device_of=host.device_of).remove("acme")
    assert removals == ["/dev/loop5"]
    assert not Path(image).exists()


def test_remove_refuses_while_a_container_binds_the_disk(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks)
    mount = disks.mounted("acme")
    assert mount is not None
    host.namespace("4242", "mnt:[4026532999]", comm="node")
    host.add_mount("4242", mount.device, "/home/node/.openclaw")
    host.calls.clear()
    code, _, err = cli(disks, capsys, "remove", "acme")
    assert code == 1
    assert "in use" in err and "pid 4242 (node)" in err
    assert host.calls == []
    assert (disks.root / "acme.img").exists() and disks.mounted("acme") is not None


def test_remove_refuses_while_a_docker_volume_has_the_disk_mounted_on_the_host(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks)
    mount = disks.mounted("acme")
    assert mount is not None
    host.add_mount("1", mount.device, "/var/lib/docker/volumes/openclaw-acme-data/_data")
    code, _, err = cli(disks, capsys, "remove", "acme")
    assert code == 1
    assert "also mounted at /var/lib/docker/volumes/openclaw-acme-data/_data" in err
    assert (disks.root / "acme.img").exists()


def test_remove_says_so_when_a_process_holds_files_open(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks)
    host.failures["umount"] = h.CommandError(["umount"], 32, "umount: /x: target is busy.")
    code, _, err = cli(disks, capsys, "remove", "acme")
    assert code == 1
    assert "is busy" in err and "files open" in err
    assert (disks.root / "acme.img").exists()


# --- serve and the agent's own namespace ----------------------------------------------------------


def test_serve_mounts_only_what_is_not_mounted_then_waits(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks, "acme")
    create(disks, "globex")
    unmount(disks, host, "globex")
    host.calls.clear()
    waited: list[bool] = []
    assert disks.serve(lambda: waited.append(True)) == 0
    assert waited == [True]
    globex = disks.root / "mnt" / "globex"
    assert host.tools() == [
        ["mount", "-t", "ext4", "-o", "loop,nodev,nosuid", str(disks.root / "globex.img"), str(globex)]
    ]
    out = capsys.readouterr().out
    assert json.loads(out) == {"mounted": ["acme", "globex"], "failed": {}}
    host.calls.clear()
    disks.serve(lambda: None)
    assert host.calls == []


def test_serve_reports_a_disk_that_fails_to_mount_and_mounts_the_others(
    disks: d.Disks, host: FakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    create(disks, "acme")
    create(disks, "globex")
    for tenant in ("acme", "globex"):
        unmount(disks, host, tenant)
    host.failures["mount"] = h.CommandError(["mount"], 32, "mount: wrong fs type, bad option, bad superblock")
    capsys.readouterr()
    assert disks.serve(lambda: None) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["mounted"] == ["globex"]
    assert "bad superblock" in doc["failed"]["acme"]
    assert '"event": "mount-failed"' in err


def test_in_a_container_the_agent_drops_its_own_copies_of_the_disks_first(disks: d.Disks, host: FakeHost) -> None:
    """Copies from Docker's recursive bind would keep a disk's file system alive after the host unmounts it."""
    create(disks)
    mount = disks.mounted("acme")
    assert mount is not None
    (host.proc / "self" / "ns" / "mnt").unlink()
    (host.proc / "self" / "ns" / "mnt").symlink_to("mnt:[4026533001]")
    host.add_mount("self", mount.device, mount.point)
    host.add_mount("self", "0:77", str(disks.root))  # the bind of the root itself stays
    host.calls.clear()
    disks.serve(lambda: None)
    assert host.calls == [["umount", mount.point]]
    host.add_mount("self", mount.device, mount.point)
    host.calls.clear()
    disks.remove("acme")
    assert host.calls[:2] == [["umount", mount.point], [*HOST, "umount", mount.point]]


# --- the environment and the runner ----------------------------------------------------------------


@pytest.mark.parametrize("root", [None, "", "relative/dir", "/", "/var/lib/../tmp", "/var/lib/disks/"])
def test_the_root_must_be_an_absolute_normalised_directory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: str | None
) -> None:
    monkeypatch.delenv(DISK_ROOT_ENV, raising=False)
    if root is not None:
        monkeypatch.setenv(DISK_ROOT_ENV, root)
    assert d.main(["list"]) == 2
    assert DISK_ROOT_ENV in capsys.readouterr().err


def _process(proc: Path, pid: int, comm: str, parent: int) -> None:
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "comm").write_text(f"{comm}\n")
    (proc / str(pid) / "status").write_text(f"Name:\t{comm}\nPid:\t{pid}\nPPid:\t{parent}\n")


def test_the_host_pid_comes_from_the_environment_or_is_the_agents_shim(tmp_path: Path) -> None:
    env = {DISK_ROOT_ENV: "/var/lib/openclaw-tenants/disks/local"}
    assert d.Disks.from_env(env).host_pid == d.namespace_pid(Path("/proc"), os.getpid())
    assert d.Disks.from_env({**env, d.HOST_PID_ENV: "4725"}).host_pid == 4725
    with pytest.raises(h.DiskError, match=d.HOST_PID_ENV):
        d.Disks.from_env({**env, d.HOST_PID_ENV: "self"})


def test_the_namespace_is_the_shims_that_runs_the_agent_not_any_daemons(tmp_path: Path) -> None:
    # Two daemons, the other one with the lower pid (pids wrap): the agent's own shim decides.
    for pid, comm, parent in (
        (1, "init", 0),
        (9000, "dockerd", 1),
        (9010, "containerd", 9000),
        (300, "dockerd", 1),
        (310, "containerd", 300),
        (9100, "containerd-shim", 1),  # comm is cut at 15 characters: containerd-shim-runc-v2
        (9120, "python3", 9100),  # the agent's serve loop, pid 1 in the container
        (9200, "sh", 9100),  # a `docker exec` and its child
        (9201, "python3", 9200),
        (400, "python3", 1),  # a process on the host
    ):
        _process(tmp_path, pid, comm, parent)
    assert d.namespace_pid(tmp_path, 9120) == 9100
    assert d.namespace_pid(tmp_path, 9201) == 9100
    assert d.namespace_pid(tmp_path, 400) == 400  # outside a container: its own namespace
    assert d.namespace_pid(tmp_path, 4242) == 4242  # gone while looking


def test_the_walk_up_the_process_tree_is_bounded(tmp_path: Path) -> None:
    _process(tmp_path, 50, "python3", 51)
    _process(tmp_path, 51, "python3", 50)  # a loop never seen in a real tree
    assert d.namespace_pid(tmp_path, 50) == 50


def test_usage_errors_exit_2(disks: d.Disks, capsys: pytest.CaptureFixture[str]) -> None:
    assert d.main(["create", "acme", "--gib", "1"], disks) == 2
    assert d.main(["frobnicate"], disks) == 2
    assert d.main([], disks) == 2


def test_every_command_line_has_a_bound(disks: d.Disks, host: FakeHost) -> None:
    create(disks)
    disks.grow("acme", 2)
    disks.remove("acme")
    assert host.timeouts
    assert all(0 < t <= d.RESIZE_S for t in host.timeouts)


def test_the_runner_reports_failures_missing_tools_and_timeouts() -> None:
    with pytest.raises(h.CommandError) as failed:
        h.run_command(["sh", "-c", "echo first >&2; echo 'the reason' >&2; exit 3"], 10)
    assert failed.value.returncode == 3
    assert str(failed.value) == "sh -c failed (exit 3): the reason"
    with pytest.raises(h.DiskError, match="is not installed"):
        h.run_command(["openclaw-no-such-tool"], 10)
    with pytest.raises(h.DiskError, match="did not finish within"):
        h.run_command(["sleep", "30"], 0.2)
    assert h.run_command(["echo", "ok"], 10) == "ok\n"


def test_mountinfo_lines_are_parsed_with_their_escapes_and_optional_fields() -> None:
    text = (
        "36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n"
        "90 27 7:3 / /var/lib/disks/local/mnt/acme rw,nosuid,nodev - ext4 /dev/loop3 rw\n"
    )
    assert h.parse_mountinfo(text) == [
        h.Mount("98:0", "/mnt/parent dir", "/dev/root"),
        h.Mount("7:3", "/var/lib/disks/local/mnt/acme", "/dev/loop3"),
    ]
