"""The fleet file as last parsed, for the reads of the service that decide nothing final."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from tenants.load import load_fleet
from tenants.model import Fleet

FileKey = tuple[int, int, int]  # inode, size, mtime (ns): every edit replaces the file, so one of them changes


class FleetCache:
    """The fleet file, parsed again only when it changed (another inode, size or mtime) or when the parse
    is older than ``max_age_s`` (an inode reused within one mtime tick cannot keep a stale fleet for
    longer). Reads that decide nothing final use it: placement, id generation, GET; every edit validates
    the file it changes, under the lock."""

    def __init__(self, path: Path, max_age_s: float = 1.0) -> None:
        self.path = path
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._loading = threading.Lock()  # one parse at a time: after a write, many requests want the new fleet
        self._key: FileKey | None = None
        self._fleet: Fleet | None = None
        self._loaded = 0.0

    def current(self) -> Fleet:
        """Raise FleetError when the file is invalid (or unreadable)."""
        fleet = self._cached()
        if fleet is not None:
            return fleet
        with self._loading:
            fleet = self._cached()  # another thread may have parsed this very file while this one waited
            if fleet is not None:
                return fleet
            key = self._file_key()
            if key is None:
                return load_fleet(self.path)  # its FleetError says why
            now = time.monotonic()
            fleet = load_fleet(self.path)  # a change during the read only makes the next call read again
            self._keep(key, fleet, now)
            return fleet

    def written(self, fleet: Fleet) -> None:
        """The editor just wrote ``fleet`` and still holds the file's lock: the file is exactly that fleet,
        so the requests after a write need not parse it again. Never raises."""
        key = self._file_key()
        if key is not None:
            self._keep(key, fleet, time.monotonic())

    def _cached(self) -> Fleet | None:
        key = self._file_key()
        if key is None:
            return None
        with self._lock:
            if key == self._key and self._fleet is not None and time.monotonic() - self._loaded < self.max_age_s:
                return self._fleet
        return None

    def _keep(self, key: FileKey, fleet: Fleet, loaded: float) -> None:
        with self._lock:
            self._key, self._fleet, self._loaded = key, fleet, loaded

    def _file_key(self) -> FileKey | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns
