"""Keeping the blank lines and comments that follow an entry where they belong when the tree changes.

ruamel.yaml attaches the blank lines and comments after a block to its deepest last key, as that
key's end-of-line comment ("  # note\\n\\n# next section\\n"). Removing that key, or adding one after
it, would move them: so an edit first detaches that trailing text (keeping only the end-of-line
comment of the line itself) and attaches it again to whatever is last afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken


def move_tail(container: Any, key: Any, change: Callable[[], None]) -> None:
    """Run ``change``; the text after ``container[key]`` (its last entry) then follows the last entry."""
    trailing = detach_tail(container, key) if key is not None else ""
    change()
    last = key if isinstance(container, CommentedSeq) else last_key(container)
    if last is not None:
        attach_tail(container, last, trailing)


def last_key(node: CommentedMap) -> Any:
    return next(reversed(node), None)


def detach_tail(container: Any, key: Any) -> str:
    """Remove and return the text after the last line of ``container[key]`` ("" when there is none)."""
    owner, where = _tail(container, key)
    entry = owner.ca.items.get(where)
    token = entry[_slot(owner)] if entry else None
    if token is None or not token.value:
        return ""
    value: str = token.value
    line, newline, rest = value.partition("\n")
    if line.strip():
        token.value = line + newline  # the line's own comment stays with it
    else:
        entry[_slot(owner)] = None
    return rest


def attach_tail(container: Any, key: Any, trailing: str) -> None:
    """Put ``trailing`` (blank lines, comments) after the last line of ``container[key]``."""
    if not trailing:
        return
    owner, where = _tail(container, key)
    entry = owner.ca.items.setdefault(where, [None, None, None, None])
    token = entry[_slot(owner)]
    if token is not None and token.value:
        token.value += trailing if token.value.endswith("\n") else "\n" + trailing
    else:
        entry[_slot(owner)] = CommentToken("\n" + trailing, CommentMark(0))


def _is_block(node: Any) -> bool:
    return isinstance(node, (CommentedMap, CommentedSeq)) and len(node) > 0 and not node.fa.flow_style()


def _tail(container: Any, key: Any) -> tuple[Any, Any]:
    """The (collection, key or index) whose end-of-line comment ends ``container[key]``."""
    value = container[key]
    while _is_block(value):
        container, key = value, (next(reversed(value)) if isinstance(value, CommentedMap) else len(value) - 1)
        value = container[key]
    return container, key


def _slot(container: Any) -> int:
    return 2 if isinstance(container, CommentedMap) else 0  # where ruamel keeps a post comment
