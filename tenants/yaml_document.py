"""The fleet file as an editor holds it under its lock: text, validated fleet and round-trip tree.

A process remembers the document it last wrote to a file; when the file still holds exactly that
text, the next edit starts from it instead of parsing again (a busy signup service edits one file
hundreds of times). Reading takes a document out of that memory, so an edit that fails leaves
nothing behind.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .atomic_write import replace_file
from .edit_errors import EditError
from .load import parse_fleet
from .model import Fleet
from .yaml_layout import DEFAULT_INDENT, blank_separated, dump, matching_style, round_trip_yaml

CACHED_FILES = 8


@dataclass(frozen=True)
class FleetDocument:
    """One fleet file's text (with "\\n" line endings), its validated fleet and its round-trip tree."""

    path: Path
    key: str  # the real path: what the cache knows the file by
    text: str
    crlf: bool  # written back with the line endings it had
    fleet: Fleet
    data: CommentedMap
    yaml: YAML  # a dumper that writes the unedited tree back exactly as the file is, when one can
    blank_separated: bool  # whether the file puts a blank line before each tenant entry

    @classmethod
    def read(cls, path: Path) -> FleetDocument:
        """The file as it is now; :class:`tenants.errors.FleetError` when it is invalid."""
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                raw = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise EditError(f"cannot read {path}: {reason}") from None
        crlf = "\r\n" in raw
        text = raw.replace("\r\n", "\n")
        key = os.path.realpath(path)
        cached = _take(key)
        if cached is not None and cached.text == text:
            return dataclasses.replace(cached, path=path, crlf=crlf)
        fleet = parse_fleet(text, str(path))
        explicit_start = text.startswith("---")
        try:
            data = round_trip_yaml(DEFAULT_INDENT, explicit_start).load(text)
        except Exception as exc:  # the validating parser accepted it; the round-trip one did not
            reason = " ".join(str(exc).split())[:200]
            raise EditError(f"cannot edit {path} without rewriting it: {reason}") from None
        yaml = matching_style(data, text, explicit_start)
        return cls(path, key, text, crlf, fleet, data, yaml, blank_separated(data, text))

    def load(self, text: str) -> CommentedMap:
        """The round-trip tree of ``text`` (this file edited)."""
        tree: CommentedMap = self.yaml.load(text)
        return tree

    def dump(self, data: Any) -> str:
        """``data`` written in this file's style."""
        return dump(self.yaml, data)

    def validate(self, text: str) -> Fleet:
        """The fleet of ``text`` (this file edited); :class:`tenants.errors.FleetError` when it is invalid."""
        return parse_fleet(text, str(self.path))

    def keep(self) -> None:
        """Remember the unchanged tree for the next edit of this file in this process."""
        _remember(self)

    def write(self, text: str, fleet: Fleet, data: CommentedMap) -> None:
        """Replace the file with ``text`` (its line endings as they were) and remember it as written."""
        replace_file(self.path, text.replace("\n", "\r\n") if self.crlf else text)
        _remember(dataclasses.replace(self, text=text, fleet=fleet, data=data))


_CACHE: dict[str, FleetDocument] = {}
_CACHE_GUARD = threading.Lock()


def _take(key: str) -> FleetDocument | None:
    with _CACHE_GUARD:
        return _CACHE.pop(key, None)


def _remember(doc: FleetDocument) -> None:
    with _CACHE_GUARD:
        _CACHE.pop(doc.key, None)
        while len(_CACHE) >= CACHED_FILES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[doc.key] = doc


def _after_fork_in_child() -> None:
    """A forked child starts with nothing cached."""
    global _CACHE_GUARD  # noqa: PLW0603 - replaced, not shared with the parent
    _CACHE_GUARD = threading.Lock()
    _CACHE.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
