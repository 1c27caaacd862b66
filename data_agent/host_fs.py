"""The host's side of a disk: its tools run bounded, its mount tables, an ext4 image's superblock.
Stdlib only, like the rest of the agent."""

from __future__ import annotations

import re
import struct
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

EXIT_FAILED: Final = 1
EXT4_MAGIC: Final = 0xEF53
EXT4_INCOMPAT_64BIT: Final = 0x80


class DiskError(Exception):
    """A refused or failed disk command; ``code`` is the process's exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class CommandError(DiskError):
    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.returncode = returncode
        self.stderr = stderr.strip()
        detail = self.stderr.splitlines()[-1] if self.stderr else "no output"
        super().__init__(f"{_shown(argv)} failed (exit {returncode}): {detail}")


Runner = Callable[[Sequence[str], float], str]  # argv, timeout in seconds → stdout; raises DiskError


def run_command(argv: Sequence[str], timeout_s: float) -> str:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise DiskError(f"{argv[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise DiskError(f"{_shown(argv)} did not finish within {timeout_s:.0f}s") from exc
    if done.returncode != 0:
        raise CommandError(argv, done.returncode, done.stderr)
    return done.stdout


def _shown(argv: Sequence[str]) -> str:
    """The tool, not the nsenter prefix: what an operator would look up."""
    tail = list(argv[argv.index("--") + 1 :]) if "--" in argv else list(argv)
    return " ".join(tail[:2])


@dataclass(frozen=True)
class Mount:
    """One line of a mountinfo file."""

    device: str  # major:minor of the mounted file system
    point: str
    source: str


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields[6:]:
            continue
        tail = fields.index("-", 6)
        mounts.append(Mount(fields[2], _unescape(fields[4]), _unescape(fields[tail + 2])))
    return mounts


def _unescape(value: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), value)


@dataclass(frozen=True)
class Superblock:
    inodes: int
    free_inodes: int
    blocks: int
    free_blocks: int
    block_size: int


def read_superblock(image: Path) -> Superblock:
    """The counts of an unmounted ext4 image, as its last unmount left them."""
    with image.open("rb") as f:
        f.seek(1024)
        raw = f.read(1024)
    if len(raw) < 1024 or struct.unpack_from("<H", raw, 0x38)[0] != EXT4_MAGIC:
        raise DiskError(f"{image} holds no ext4 file system")
    inodes, blocks_lo, _, free_lo, free_inodes = struct.unpack_from("<5I", raw, 0)
    log_block = struct.unpack_from("<I", raw, 0x18)[0]
    wide = struct.unpack_from("<I", raw, 0x60)[0] & EXT4_INCOMPAT_64BIT
    blocks_hi, _, free_hi = struct.unpack_from("<3I", raw, 0x150) if wide else (0, 0, 0)
    return Superblock(inodes, free_inodes, blocks_lo | blocks_hi << 32, free_lo | free_hi << 32, 1024 << log_block)
