"""An append-only log of irreversible fleet operations (a purge deletes a customer's data): one JSON
object per line, with when (``at``, UTC) and who (``operator``).

Each entry is written by one ``write`` on a file opened with ``O_APPEND`` and synced before
:func:`append` returns, so concurrent writers never interleave and an acknowledged entry survives a
crash. The file is created readable by its owner only (it names customers and operators).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
LOG_NAME = "audit.jsonl"  # beside the fleet file, unless told otherwise
RESERVED = ("at",)  # set by append itself


def operator() -> str:
    """Who runs this process: ``$USER``, else the login name, else the uid."""
    name = os.environ.get("USER")
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no passwd entry (a container's arbitrary uid)
        return f"uid {os.getuid()}"


def append(path: Path, entry: Mapping[str, object]) -> dict[str, Any]:
    """Append one entry (``at`` and ``operator`` first, then ``entry``, which may name the operator
    itself) and return it as written. ValueError when ``entry`` sets ``at`` or is not JSON; nothing is
    written then."""
    clash = [key for key in RESERVED if key in entry]
    if clash:
        raise ValueError(f"an audit entry may not set {', '.join(clash)}: append records it")
    record: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "operator": operator(),
        **entry,
    }
    try:
        line = (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"an audit entry must be plain JSON: {exc}") from None
    path = Path(path)
    created, fd = _open(path)
    try:
        if created:
            os.fchmod(fd, FILE_MODE)  # whatever the umask
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _sync_dir(path.parent)
    return record


def _open(path: Path) -> tuple[bool, int]:
    """(whether it was created, a descriptor) of ``path`` opened for appending."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    try:
        return True, os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False, os.open(path, flags)


def _sync_dir(directory: Path) -> None:
    """Make a new file's name durable too."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path) -> list[dict[str, Any]]:
    """Every entry, oldest first; [] when there is no log yet. A last line cut short by a crash (no
    newline, not JSON) was never acknowledged and is skipped; any other bad line is a ValueError naming
    it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return _entries(text, str(path))


def _entries(text: str, path: str) -> list[dict[str, Any]]:
    lines = text.split("\n")
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            if number == len(lines):  # no newline after it: an append that did not finish
                break
            raise ValueError(f"{path}:{number}: not a JSON audit entry") from None
        if not isinstance(entry, dict):
            raise ValueError(f"{path}:{number}: an audit entry must be a JSON object")
        entries.append(entry)
    return entries


def purges(entries: list[dict[str, Any]]) -> frozenset[tuple[str, str | None]]:
    """What complete purges deleted: (tenant id, None) for a whole tenant, (tenant id, target) for an earlier
    copy on one target (the scope and targets `tenantctl purge` records)."""
    found: set[tuple[str, str | None]] = set()
    for entry in entries:
        if entry.get("action") != "purge" or entry.get("complete") is not True:
            continue
        tenant = str(entry.get("tenant"))
        if entry.get("scope") == "tenant":
            found.add((tenant, None))
        else:
            found |= {(tenant, str(d.get("target"))) for d in entry.get("deleted") or [] if isinstance(d, dict)}
    return frozenset(found)


def parse(text: str, source: str) -> list[dict[str, Any]]:
    """The entries of an audit log's text (read from a git ref, say), as :func:`read` reads a file."""
    return _entries(text, source)
