"""The tenant entries of a fleet file's round-trip tree: building a new one, appending it, writing a
state or another key, removing one.

What people wrote stays as they wrote it: the entries' style (block or flow), the blank lines between
them, the quotes of a value and the comments between and after the entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString
from ruamel.yaml.tokens import CommentToken

from .contract import DEFAULT_STATE
from .edit_errors import EditError, UnknownTenant
from .yaml_comments import attach_tail, detach_tail, last_key, move_tail

RETAINED_ON = "retained_on"

# Keys of a new tenant entry are written in this order (the order of the example fleet); others follow.
KEY_ORDER = (
    "id",
    "plan",
    "target",
    "retained_on",
    "shard",
    "model_provider",
    "channel",
    "state",
    "rotation",
    "overrides",
    "labels",
)

_RESOLVER = VersionedResolver()


def new_entry(fields: Mapping[str, object]) -> CommentedMap:
    """A tenant entry of ``fields`` in :data:`KEY_ORDER`; a ``None`` value is left out."""
    given = {key: value for key, value in fields.items() if value is not None}
    for key in given:
        if not isinstance(key, str):
            raise EditError(f"tenant keys must be strings; got {key!r}")
    ordered = [k for k in KEY_ORDER if k in given] + [k for k in given if k not in KEY_ORDER]
    entry = CommentedMap()
    for key in ordered:
        entry[key] = _node(given[key], key)
    return entry


def _node(value: object, where: str) -> Any:
    """A YAML node for a plain value: mappings, lists, strings, numbers, booleans and null."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            if not isinstance(key, str):
                raise EditError(f"{where}: keys must be strings; got {key!r}")
            node[key] = _node(item, f"{where}.{key}")
        return node
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq()
        seq.extend(_node(item, f"{where}[{i}]") for i, item in enumerate(value))
        return seq
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        text = str(value)
        # A string YAML would read as something else ("1001", "true", "") is written in double quotes.
        plain = str(_RESOLVER.resolve(ScalarNode, text, (True, False))) == "tag:yaml.org,2002:str"
        return text if plain else DoubleQuotedScalarString(text)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    raise EditError(f"{where}: cannot write a {type(value).__name__} into tenants.yaml")


def append_entry(data: CommentedMap, entry: CommentedMap, blank_separated: bool) -> None:
    """Add ``entry`` after the last tenant entry, like its neighbours."""
    seq = data.get("tenants")
    if not isinstance(seq, CommentedSeq) or not seq:
        # No entries yet (`tenants:` missing, null or []): start a block list with this one.
        def start() -> None:
            new = seq if isinstance(seq, CommentedSeq) else CommentedSeq()
            new.fa.set_block_style()
            new.append(entry)
            data["tenants"] = new

        move_tail(data, last_key(data), start)
        return
    if all(isinstance(item, CommentedMap) and item.fa.flow_style() for item in seq):
        entry.fa.set_flow_style()  # like its neighbours: - {id: acme, plan: basic}
    # What follows the last entry (blank lines, comments, the end of the file) stays at the end.
    last = len(seq) - 1
    trailing = detach_tail(seq, last)
    if blank_separated:
        attach_tail(seq, last, "\n")
    seq.append(entry)
    attach_tail(seq, last + 1, trailing)


def locate(data: CommentedMap, tenant_id: str) -> tuple[CommentedSeq, int]:
    """The tenants list and the position of ``tenant_id``'s entry in it."""
    seq = data["tenants"]
    for index, item in enumerate(seq):
        if isinstance(item, CommentedMap) and item.get("id") == tenant_id:
            return seq, index
    raise UnknownTenant(f"no tenant {tenant_id!r}")  # pragma: no cover - the fleet has it


def write_state(seq: CommentedSeq, index: int, state: str) -> None:
    """Set the state of entry ``index``; the default state removes the key, an existing one keeps its quotes."""
    item: CommentedMap = seq[index]

    def change() -> None:
        if state == DEFAULT_STATE:
            del item["state"]
        elif "state" in item:
            old = item["state"]
            item["state"] = type(old)(state) if isinstance(old, ScalarString) else state
        else:
            after = next((k for k in ("plan", "id") if k in item), None)
            position = list(item).index(after) + 1 if after is not None else 0
            item.insert(position, "state", state)

    move_tail(seq, index, change)


def write_key(seq: CommentedSeq, index: int, key: str, value: str) -> None:
    """Set a string key of entry ``index``: an existing value keeps its quotes, a new key goes where
    :data:`KEY_ORDER` puts it among the keys the entry has."""
    item: CommentedMap = seq[index]

    def change() -> None:
        old = item.get(key)
        if key in item:
            item[key] = type(old)(value) if isinstance(old, ScalarString) else _node(value, key)
        else:
            item.insert(_position(item, key), key, _node(value, key))

    move_tail(seq, index, change)


def add_retained(seq: CommentedSeq, index: int, target: str) -> None:
    """Append ``target`` to entry ``index``'s ``retained_on`` (a new list is written inline: [a, b])."""
    item: CommentedMap = seq[index]

    def change() -> None:
        listed = item.get(RETAINED_ON)
        if isinstance(listed, CommentedSeq):
            listed.append(_node(target, RETAINED_ON))
            return
        new = CommentedSeq([_node(target, RETAINED_ON)])
        new.fa.set_flow_style()
        item.insert(_position(item, RETAINED_ON), RETAINED_ON, new)

    move_tail(seq, index, change)


def remove_retained(seq: CommentedSeq, index: int, target: str) -> None:
    """Remove ``target`` from entry ``index``'s ``retained_on``; the key goes with its last name."""
    item: CommentedMap = seq[index]

    def change() -> None:
        listed: CommentedSeq = item[RETAINED_ON]
        position = next(i for i, name in enumerate(listed) if name == target)
        if len(listed) == 1:
            del item[RETAINED_ON]
        else:
            trailing = detach_tail(listed, len(listed) - 1)
            listed.pop(position)
            attach_tail(listed, len(listed) - 1, trailing)

    move_tail(seq, index, change)


def _position(item: CommentedMap, key: str) -> int:
    """Where a new ``key`` goes in ``item``: after the last key :data:`KEY_ORDER` puts before it."""
    earlier = KEY_ORDER[: KEY_ORDER.index(key)] if key in KEY_ORDER else KEY_ORDER
    keys = list(item)
    return max((keys.index(k) + 1 for k in earlier if k in item), default=0)


def remove_entry(data: CommentedMap, index: int) -> None:
    """Remove tenant entry ``index``. The comments above and below it stay between its neighbours (they
    may be about a section or the next entry); the blank lines that separated it go with it."""
    seq: CommentedSeq = data["tenants"]
    last = len(seq) - 1
    below = detach_tail(seq, index)
    if index == 0:
        del seq[0]
        if seq:
            _comment_first(seq, _comments(below)[1])
        else:
            seq.fa.set_flow_style()  # tenants: []
            attach_tail(data, "tenants", below)
        return
    above = detach_tail(seq, index - 1)
    del seq[index]
    blank_above, notes_above = _comments(above)
    blank_below, notes_below = _comments(below)
    if index == last:  # what ended the list now ends it after the new last entry
        between = (blank_above + notes_above if notes_above else "") + below
    else:
        between = (blank_above or blank_below) + notes_above + notes_below
    attach_tail(seq, index - 1, between)


def _comments(text: str) -> tuple[str, str]:
    """Text after an entry split into its leading blank lines and the rest (comments, and blank lines
    between them)."""
    lines = text.splitlines(keepends=True)
    blank = 0
    while blank < len(lines) and not lines[blank].strip():
        blank += 1
    return "".join(lines[:blank]), "".join(lines[blank:])


def _comment_first(seq: CommentedSeq, notes: str) -> None:
    """Put comment lines before the first entry of ``seq`` (after any already there)."""
    lines = [line for line in notes.splitlines() if line.strip()]
    if not lines:
        return
    tokens = [CommentToken(line.strip() + "\n", CommentMark(len(line) - len(line.lstrip()))) for line in lines]
    if seq.ca.comment is None:
        seq.ca.comment = [None, tokens]
    elif seq.ca.comment[1] is None:
        seq.ca.comment[1] = tokens
    else:
        seq.ca.comment[1].extend(tokens)
