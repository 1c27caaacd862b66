"""Edit tenants.yaml in place: add a tenant or change its state, keeping the file as people wrote it.

Every edit holds an exclusive lock on ``<file>.lock``, reads the file with ruamel.yaml's round-trip
loader (comments, key order, quotes, blank lines and indentation survive), changes only what the edit
is about, validates the whole new text with :func:`tenants.load.parse_fleet`, and only then replaces the
file atomically (temporary file in the same directory, fsync, ``os.replace``). A refused edit leaves the
file byte for byte as it was: :class:`tenants.errors.FleetError` when the new fleet would be invalid,
:class:`EditError` (or a subclass) for everything else.

:func:`apply_edits` applies a batch of edits (group commit): one lock, one read, every edit applied to
the tree in order, one validation and one write when the result is valid. When it is not, the batch is
split (at the tenants the validation blames, else in halves) and the parts are tried in order, each on
top of what was accepted before it, so only the edits that make the fleet invalid are refused, each
with the problems it causes on its own; the others still land, in the same single write.

A process remembers the tree and fleet it last wrote to a file; when the file still holds exactly that
text, the next edit starts from them instead of parsing again (a busy signup service edits one file
hundreds of times). An edit that fails forgets them.

Used by ``tenantctl add|suspend|resume|offboard`` and by the signup service.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import fcntl
import io
import os
import random
import secrets
import stat
import string
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString
from ruamel.yaml.tokens import CommentToken

from .contract import TenantState
from .errors import FleetError
from .load import parse_fleet
from .model import Fleet, Tenant, check_tenant_id

STATES: tuple[str, ...] = get_args(TenantState)
DEFAULT_STATE = "active"

# Keys of a new tenant entry are written in this order (the order of the example fleet); others follow.
KEY_ORDER = ("id", "plan", "target", "shard", "model_provider", "channel", "state", "rotation", "overrides", "labels")

# Indentation styles tried, in order, until one reproduces the file exactly: (mapping, sequence, offset).
INDENT_STYLES = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0), (3, 3, 1))
DEFAULT_INDENT = INDENT_STYLES[0]

_RESOLVER = VersionedResolver()

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_RANDOM_CHARS = 8
MAX_PREFIX = 40 - 1 - ID_RANDOM_CHARS  # a tenant id has at most 40 characters


class EditError(Exception):
    """A refused edit; ``str()`` is a one-line reason for users."""


class UnknownTenant(EditError):  # noqa: N818 - the API's name
    """The tenant to change is not in the file."""


class DuplicateTenant(EditError):  # noqa: N818 - the API's name
    """A tenant with the new tenant's id is already in the file."""


@dataclass(frozen=True)
class EditResult:
    fleet: Fleet  # the validated fleet now on disk
    tenant: Tenant  # the tenant as it is now
    changed: bool  # False when the edit was already in effect (idempotent)


@dataclass(frozen=True)
class Edit:
    """One edit of a batch for :func:`apply_edits`: ``Edit.add(fields)`` or ``Edit.set_state(id, state)``."""

    kind: Literal["add", "state"]
    fields: Mapping[str, object] = dataclasses.field(default_factory=dict)  # "add": the new tenant's keys
    tenant_id: str = ""  # "state": the tenant to change
    state: str = ""  # "state": its new state

    def __post_init__(self) -> None:
        if self.kind not in ("add", "state"):
            raise ValueError(f"unknown edit kind {self.kind!r}; one of: add, state")

    @classmethod
    def add(cls, fields: Mapping[str, object]) -> Edit:
        """Append a tenant entry built from ``fields`` (see :func:`add_tenant`)."""
        return cls("add", fields=dict(fields))

    @classmethod
    def set_state(cls, tenant_id: str, state: str) -> Edit:
        """Set a tenant's state (see :func:`set_state`)."""
        return cls("state", tenant_id=tenant_id, state=state)


EditOutcome = EditResult | EditError | FleetError


# --- public API --------------------------------------------------------------------------------


def apply_edits(
    path: Path,
    edits: Sequence[Edit],
    *,
    lock_timeout_s: float = 30.0,
    on_written: Callable[[Fleet], None] | None = None,
) -> list[EditOutcome]:
    """Apply ``edits`` in order under one lock, with one validation and one write when all are valid.

    Returns one outcome per edit, in input order: an :class:`EditResult` (every result carries the fleet
    written at the end of the batch), or the :class:`EditError` / :class:`tenants.errors.FleetError` that
    edit alone would have raised from :func:`add_tenant` or :func:`set_state` on top of the accepted edits
    before it. Refused edits never reach the file; the others do, in one atomic replace.

    Raises (and changes nothing) when no edit could be tried: :class:`EditError` when the lock is not
    free within ``lock_timeout_s`` or the file is unreadable, :class:`tenants.errors.FleetError` when the
    file as it is is invalid; an ``OSError`` while writing leaves the file as it was.

    ``on_written`` is called with the fleet just written, while the file is still locked (so what it
    sees of the file, its ``stat`` say, is that fleet's); not at all when nothing was written. It must
    not raise: the file is already replaced.
    """
    path = Path(path)
    outcomes: list[EditOutcome | None] = [None] * len(edits)
    todo: list[tuple[int, Edit]] = []
    for index, change in enumerate(edits):
        refusal = _precheck(change)
        if refusal is None:
            todo.append((index, change))
        else:
            outcomes[index] = refusal
    if todo:
        with locked(path, lock_timeout_s):
            batch = _Batch(_Document.read(path))
            batch.run(todo)
            fleet = batch.finish(on_written)
        for index, outcome in batch.outcomes.items():
            if isinstance(outcome, tuple):
                tenant_id, changed = outcome
                outcomes[index] = EditResult(fleet, fleet.tenant(tenant_id), changed=changed)
            else:
                outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def add_tenant(path: Path, fields: Mapping[str, object], *, lock_timeout_s: float = 30.0) -> EditResult:
    """Append a tenant entry built from ``fields`` (tenant keys as in tenants.yaml).

    A ``None`` value means "not given" (the fleet's defaults apply). Raises :class:`DuplicateTenant` when
    the id exists, :class:`tenants.errors.FleetError` when the fleet with the new tenant is invalid.
    """
    return _one(apply_edits(path, [Edit.add(fields)], lock_timeout_s=lock_timeout_s))


def set_state(path: Path, tenant_id: str, state: TenantState, *, lock_timeout_s: float = 30.0) -> EditResult:
    """Set a tenant's state; ``active`` removes the ``state`` key (it is the default).

    Raises :class:`UnknownTenant` for an id not in the file. When the tenant is already in ``state`` the
    file is not touched and ``changed`` is False.
    """
    return _one(apply_edits(path, [Edit.set_state(tenant_id, state)], lock_timeout_s=lock_timeout_s))


def _one(outcomes: list[EditOutcome]) -> EditResult:
    (outcome,) = outcomes
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _valid_id(candidate: str) -> bool:
    """The model's own rule (format, reserved words, the edge prefix), so an id it makes is always accepted."""
    try:
        check_tenant_id(candidate)
    except ValueError:
        return False
    return True


def generate_id(fleet: Fleet, prefix: str = "t") -> str:
    """A random, unused, valid tenant id like ``t-7f3k2q9x`` (never a reserved word).

    ``prefix`` is a DNS label of at most 31 characters, or "" for no prefix; anything else is a
    ValueError (a configuration mistake, not a refused edit).
    """
    if prefix and (len(prefix) > MAX_PREFIX or not _valid_prefix(prefix)):
        raise ValueError(
            f"tenant id prefix {prefix!r} must be lowercase letters, digits and '-' (at most {MAX_PREFIX}), "
            "starting and ending with a letter or digit"
        )
    taken = {t.id for t in fleet.tenants}
    for _ in range(1000):
        suffix = _random_suffix()
        candidate = f"{prefix}-{suffix}" if prefix else suffix
        if candidate not in taken and _valid_id(candidate):
            return candidate
    raise EditError("could not generate an unused tenant id; try again")


def least_loaded_shard(fleet: Fleet) -> str:
    """The shard with the fewest tenants (any state; ties go to the first name); the default when empty."""
    counts: dict[str, int] = {}
    for tenant in fleet.tenants:
        counts[tenant.shard] = counts.get(tenant.shard, 0) + 1
    if not counts:
        return fleet.defaults.shard
    return min(sorted(counts), key=lambda shard: counts[shard])


def shard_for_new_tenant(fleet: Fleet, target: str | None) -> str:
    """The least loaded shard among those already on the new tenant's target (a Docker target serves
    exactly one shard, its edge proxy's stack), or among all shards when the target has no tenants."""
    name = target if target is not None else fleet.defaults.target
    on_target = {t.shard for t in fleet.tenants if t.target == name}
    candidates = tuple(t for t in fleet.tenants if t.shard in on_target) if on_target else fleet.tenants
    return least_loaded_shard(fleet.model_copy(update={"tenants": candidates}))


@contextmanager
def locked(path: Path, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` for the block; wait at most ``timeout_s`` for it.

    The sidecar is never deleted (deleting it would let two editors lock two different files). Threads
    of one process first queue on a lock of their own (a blocking wait, not polling), so a busy service
    hands the file from one edit to the next without starving any; processes then meet on the flock.
    """
    path = Path(path)
    lock_path = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + max(timeout_s, 0.0)

    def timed_out() -> EditError:
        return EditError(
            f"{path} is being edited by someone else: gave up waiting for {lock_path} after {timeout_s:g} s; try again"
        )

    in_process = _thread_lock(os.path.realpath(lock_path))
    if not in_process.acquire(timeout=max(timeout_s, 0.0)):
        raise timed_out()
    try:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise EditError(f"cannot open the lock file {lock_path}: {exc.strerror or exc}") from None
        try:
            delay = 0.002
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise timed_out() from None
                    time.sleep(min(remaining, delay * (0.5 + random.random())))  # jitter only
                    delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        in_process.release()


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(key: str) -> threading.Lock:
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(key, threading.Lock())


def _after_fork_in_child() -> None:
    """A forked child starts with no thread holding a lock and nothing cached."""
    global _THREAD_LOCKS_GUARD, _CACHE_GUARD  # noqa: PLW0603 - replaced, not shared with the parent
    _THREAD_LOCKS_GUARD = threading.Lock()
    _CACHE_GUARD = threading.Lock()
    _THREAD_LOCKS.clear()
    _CACHE.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


# --- reading and writing the document ----------------------------------------------------------


def _valid_prefix(prefix: str) -> bool:
    return all(c in ID_ALPHABET + "-" for c in prefix) and not prefix.startswith("-") and not prefix.endswith("-")


def _random_suffix() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_RANDOM_CHARS))


def _yaml(style: tuple[int, int, int], explicit_start: bool) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    mapping, sequence, offset = style
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.width = 4096  # never fold long values
    yaml.explicit_start = explicit_start
    return yaml


def _dump(yaml: YAML, data: Any) -> str:
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


@dataclass(frozen=True)
class _Document:
    """The fleet file under the lock: its text, its validated fleet and its round-trip tree."""

    path: Path
    key: str  # the real path: what the cache knows the file by
    text: str  # with "\n" line endings
    crlf: bool  # written back with the line endings it had
    fleet: Fleet
    data: CommentedMap
    yaml: YAML  # a dumper that writes the unedited tree back exactly as the file is, when one can
    blank_separated: bool  # whether the file puts a blank line before each tenant entry

    @classmethod
    def read(cls, path: Path) -> _Document:
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                raw = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise EditError(f"cannot read {path}: {reason}") from None
        crlf = "\r\n" in raw
        text = raw.replace("\r\n", "\n")
        key = os.path.realpath(path)
        # This process wrote the file last: its tree and fleet are those of exactly this text, so
        # neither parse is needed again. Taken out of the cache: an edit that fails leaves nothing behind.
        with _CACHE_GUARD:
            cached = _CACHE.pop(key, None)
        if cached is not None and cached.text == text:
            return dataclasses.replace(cached, path=path, crlf=crlf)
        fleet = parse_fleet(text, str(path))  # the file as it is must be valid: FleetError otherwise
        explicit_start = text.startswith("---")
        try:
            data = _yaml(DEFAULT_INDENT, explicit_start).load(text)
        except Exception as exc:  # the validating parser accepted it; the round-trip one did not
            reason = " ".join(str(exc).split())[:200]
            raise EditError(f"cannot edit {path} without rewriting it: {reason}") from None
        yaml = _matching_style(data, text, explicit_start)
        return cls(path, key, text, crlf, fleet, data, yaml, _blank_separated(data, text))

    def keep(self) -> None:
        """Remember the unchanged tree for the next edit of this file in this process."""
        _remember(self)


_CACHE: dict[str, _Document] = {}
_CACHE_GUARD = threading.Lock()
CACHED_FILES = 8


def _remember(doc: _Document) -> None:
    with _CACHE_GUARD:
        _CACHE.pop(doc.key, None)
        while len(_CACHE) >= CACHED_FILES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[doc.key] = doc


def _blank_separated(data: CommentedMap, text: str) -> bool:
    """Whether the file puts a blank line before its tenant entries (comments may sit between)."""
    seq = data.get("tenants")
    if not isinstance(seq, CommentedSeq):
        return False
    lines = text.split("\n")
    for index in range(1, len(seq)):
        line = seq.lc.item(index)[0] - 1
        while line >= 0 and lines[line].strip().startswith("#"):
            line -= 1
        if line >= 0 and not lines[line].strip():
            return True
    return False


def _matching_style(data: CommentedMap, text: str, explicit_start: bool) -> YAML:
    """The dumper that writes ``data`` back exactly as ``text``; else the one changing the fewest lines.

    ruamel.yaml has one indentation per document: a file mixing styles is normalised by its first edit.
    """
    best, best_kept = _yaml(DEFAULT_INDENT, explicit_start), -1
    lines = text.splitlines()
    for style in INDENT_STYLES:
        candidate = _yaml(style, explicit_start)
        dumped = _dump(candidate, data)
        if dumped == text:
            return candidate
        matcher = difflib.SequenceMatcher(None, lines, dumped.splitlines(), autojunk=False)
        kept = sum(block.size for block in matcher.get_matching_blocks())
        if kept > best_kept:
            best, best_kept = candidate, kept
    return best


def _replace(path: Path, text: str) -> None:
    target = Path(os.path.realpath(path))  # edit through a symlink, do not replace it
    mode = stat.S_IMODE(os.stat(target).st_mode)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --- a batch of edits ---------------------------------------------------------------------------

_Outcome = tuple[str, bool] | EditError | FleetError  # (tenant id, changed) until the final fleet is known


def _precheck(change: Edit) -> EditError | None:
    """What refuses an edit whatever the file says (nothing read yet, no lock taken)."""
    try:
        if change.kind == "add":
            _new_entry(change.fields)
        elif change.state not in STATES:
            return EditError(f"unknown state {change.state!r}; one of: {', '.join(STATES)}")
    except EditError as exc:
        return exc
    return None


class _Batch:
    """Edits applied to one document under its lock. ``text``/``fleet`` are what was accepted so far (the
    file's at first); ``data`` is the tree of ``text`` unless ``dirty`` (it holds a refused attempt)."""

    def __init__(self, doc: _Document) -> None:
        self.doc = doc
        self.text = doc.text
        self.fleet = doc.fleet
        self.data = doc.data
        self.dirty = False
        self.outcomes: dict[int, _Outcome] = {}

    def run(self, edits: list[tuple[int, Edit]]) -> None:
        """Try all edits at once; split a refused group until each refused edit stands alone."""
        groups = deque([edits])
        while groups:
            group = groups.popleft()
            refused = self._attempt(group)
            if refused is None:
                continue
            error, blamed = refused
            if len(group) == 1:
                self.outcomes[group[0][0]] = error
                continue
            groups.extendleft(reversed(_split(group, blamed)))

    def _attempt(self, group: list[tuple[int, Edit]]) -> tuple[FleetError, set[int]] | None:
        """Apply ``group`` on top of the accepted text and validate it: None when accepted, else the
        problems and the edits they blame (those whose tenant entries the problems are about)."""
        if self.dirty:
            self.data = self.doc.yaml.load(self.text)  # back to the accepted tree
            self.dirty = False
        states = {tenant.id: str(tenant.state) for tenant in self.fleet.tenants}
        outcomes: dict[int, _Outcome] = {}
        touched: dict[int, list[int]] = {}  # position in the tenants list -> the edits that changed it
        for index, change in group:
            if change.kind == "add":
                entry = _new_entry(change.fields)
                tenant_id = entry.get("id")
                if isinstance(tenant_id, str) and tenant_id in states:
                    outcomes[index] = DuplicateTenant(f"tenant {tenant_id!r} already exists in {self.doc.path}")
                    continue
                _append(self.data, entry, self.doc.blank_separated)
                self.dirty = True
                touched.setdefault(len(self.data["tenants"]) - 1, []).append(index)
                if isinstance(tenant_id, str):
                    states[tenant_id] = str(entry.get("state", DEFAULT_STATE))
                outcomes[index] = (str(tenant_id), True)
                continue
            tenant_id = change.tenant_id
            current = states.get(tenant_id)
            if current is None:
                outcomes[index] = UnknownTenant(f"no tenant {tenant_id!r} in {self.doc.path}")
            elif current == change.state:
                outcomes[index] = (tenant_id, False)
            else:
                seq, position = _locate(self.data, tenant_id)
                _write_state(seq, position, change.state)
                self.dirty = True
                touched.setdefault(position, []).append(index)
                states[tenant_id] = change.state
                outcomes[index] = (tenant_id, True)
        if self.dirty:
            text = _dump(self.doc.yaml, self.data)
            try:
                fleet = self.fleet if text == self.text else parse_fleet(text, str(self.doc.path))
            except FleetError as exc:
                blamed = {i for position in _positions(exc) for i in touched.get(position, ())}
                return exc, blamed
            self.text, self.fleet, self.dirty = text, fleet, False
        self.outcomes.update(outcomes)
        return None

    def finish(self, on_written: Callable[[Fleet], None] | None = None) -> Fleet:
        """Write what was accepted (one atomic replace) and remember it; the fleet now on disk."""
        if self.text == self.doc.text:
            if not self.dirty:
                self.doc.keep()
            return self.fleet  # a refused attempt is forgotten: the next edit reads the file again
        _replace(self.doc.path, self.text.replace("\n", "\r\n") if self.doc.crlf else self.text)
        if self.dirty:
            self.data = self.doc.yaml.load(self.text)
        _remember(dataclasses.replace(self.doc, text=self.text, fleet=self.fleet, data=self.data))
        if on_written is not None:
            on_written(self.fleet)
        return self.fleet


def _positions(exc: FleetError) -> set[int]:
    """The positions in the tenants list of the entries a refused fleet's problems are about."""
    return {
        p.path[1] for p in exc.problems if len(p.path) >= 2 and p.path[0] == "tenants" and isinstance(p.path[1], int)
    }


def _split(group: list[tuple[int, Edit]], blamed: set[int]) -> list[list[tuple[int, Edit]]]:
    """A refused group in order: each blamed edit alone and the runs between them; in halves when the
    problems blame none of its edits (a target over capacity, say)."""
    if not blamed:
        middle = len(group) // 2
        return [group[:middle], group[middle:]]
    parts: list[list[tuple[int, Edit]]] = []
    run: list[tuple[int, Edit]] = []
    for item in group:
        if item[0] in blamed:
            if run:
                parts.append(run)
                run = []
            parts.append([item])
        else:
            run.append(item)
    if run:
        parts.append(run)
    return parts


def _locate(data: CommentedMap, tenant_id: str) -> tuple[CommentedSeq, int]:
    seq = data["tenants"]
    for index, item in enumerate(seq):
        if isinstance(item, CommentedMap) and item.get("id") == tenant_id:
            return seq, index
    raise UnknownTenant(f"no tenant {tenant_id!r}")  # pragma: no cover - the fleet has it


# --- the edits ---------------------------------------------------------------------------------


def _new_entry(fields: Mapping[str, object]) -> CommentedMap:
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


def _append(data: CommentedMap, entry: CommentedMap, blank_separated: bool) -> None:
    seq = data.get("tenants")
    if not isinstance(seq, CommentedSeq) or not seq:
        # No entries yet (`tenants:` missing, null or []): start a block list with this one.
        def start() -> None:
            new = seq if isinstance(seq, CommentedSeq) else CommentedSeq()
            new.fa.set_block_style()
            new.append(entry)
            data["tenants"] = new

        _move_tail(data, _last_key(data), start)
        return
    if all(isinstance(item, CommentedMap) and item.fa.flow_style() for item in seq):
        entry.fa.set_flow_style()  # like its neighbours: - {id: acme, plan: basic}
    # What follows the last entry (blank lines, comments, the end of the file) stays at the end.
    last = len(seq) - 1
    trailing = _detach_tail(seq, last)
    if blank_separated:
        _attach_tail(seq, last, "\n")
    seq.append(entry)
    _attach_tail(seq, last + 1, trailing)


def _write_state(seq: CommentedSeq, index: int, state: str) -> None:
    item: CommentedMap = seq[index]

    def change() -> None:
        if state == DEFAULT_STATE:
            del item["state"]
        elif "state" in item:
            old = item["state"]
            item["state"] = type(old)(state) if isinstance(old, ScalarString) else state  # keep its quotes
        else:
            after = next((k for k in ("plan", "id") if k in item), None)
            position = list(item).index(after) + 1 if after is not None else 0
            item.insert(position, "state", state)

    _move_tail(seq, index, change)


# --- keeping what follows an entry where it belongs --------------------------------------------
#
# ruamel.yaml attaches the blank lines and comments after a block to its deepest last key, as that
# key's end-of-line comment ("  # note\n\n# next section\n"). Removing that key, or adding one after
# it, would move them: so an edit first detaches that trailing text (keeping only the end-of-line
# comment of the line itself) and attaches it again to whatever is last afterwards.


def _move_tail(container: Any, key: Any, change: Callable[[], None]) -> None:
    """Run ``change``; the text after ``container[key]`` (its last entry) then follows the last entry."""
    trailing = _detach_tail(container, key) if key is not None else ""
    change()
    last = key if isinstance(container, CommentedSeq) else _last_key(container)
    if last is not None:
        _attach_tail(container, last, trailing)


def _last_key(node: CommentedMap) -> Any:
    return next(reversed(node), None)


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


def _detach_tail(container: Any, key: Any) -> str:
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


def _attach_tail(container: Any, key: Any, trailing: str) -> None:
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
