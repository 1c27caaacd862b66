"""Validation problems, each tied to the place in tenants.yaml that causes it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """Render a location the way a user would write it: ``tenants[2].overrides.cpus``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a fleet file; ``line`` is 1-based, 0 when unknown."""

    line: int
    path: Path
    message: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {format_path(self.path)}: {self.message}"


class FleetError(Exception):
    """Every problem found in one fleet file, reported together."""

    def __init__(self, source: str, problems: Iterable[Problem]) -> None:
        self.source = source
        self.problems: Sequence[Problem] = tuple(
            sorted(set(problems), key=lambda p: (p.line, format_path(p.path), p.message))
        )
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''} found"
        return "\n".join([head, *(f"  {p.render(self.source)}" for p in self.problems)])


def plain_message(msg: str) -> str:
    """A pydantic error message without the prefix pydantic puts before a validator's own words."""
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
