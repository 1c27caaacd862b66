"""Where the two sides of a review come from: a file, a git ref's copy of the fleet file, or the work tree."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import FleetError, Problem
from .fleet_pair import FleetPairError


class SourceError(Exception):
    """A --base/--head value that is neither a file nor a git ref holding the fleet file (one line)."""


@dataclass(frozen=True)
class FleetText:
    source: str  # how messages name it: a path, or "<ref>:<path>"
    text: str


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except OSError as exc:
        raise SourceError(f"cannot run git: {exc}") from None


def repo_root(cwd: Path) -> Path | None:
    """The top of the git working tree around ``cwd``, or None outside one (or without git)."""
    try:
        done = _git(["rev-parse", "--show-toplevel"], cwd)
    except SourceError:
        return None
    return Path(done.stdout.decode().strip()) if done.returncode == 0 else None


def _fleet_text(data: bytes | Path, source: str) -> FleetText:
    """The text of a file or of git's output; bytes that cannot be read as UTF-8 are that fleet's problem."""
    try:
        raw = data.read_bytes() if isinstance(data, Path) else data
        return FleetText(source, raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetPairError([FleetError(source, [Problem(0, (), f"cannot read file: {exc}")])]) from None


def read_fleet_text(value: str | None, file: str = "tenants.yaml", cwd: Path | None = None) -> FleetText:
    """The fleet text named by a --base/--head value.

    An existing file path is read. Anything else is a git ref, read as ``git show <ref>:<file>`` (``file``
    relative to the repository root). ``None`` is the working-tree copy of ``file``: under the repository
    root inside a git working tree, else relative to ``cwd``. Raises SourceError (one line) for a ref that
    does not exist or does not hold ``file``, FleetPairError for a file that cannot be read.
    """
    cwd = cwd or Path.cwd()
    if value is None:
        root = repo_root(cwd)
        return _fleet_text((root if root is not None else cwd) / file, file)
    candidate = cwd / value
    if candidate.is_file():
        return _fleet_text(candidate, value)
    if not value or value.startswith("-"):
        raise SourceError(f"{value!r} is neither an existing file nor a git ref")
    inner = file.removeprefix("./")
    done = _git(["show", f"{value}:{inner}"], cwd)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        reason = lines[0].removeprefix("fatal: ") if lines else f"git exited {done.returncode}"
        raise SourceError(f"{value!r} is neither an existing file nor a git ref holding {inner} ({reason})")
    return _fleet_text(done.stdout, f"{value}:{inner}")
