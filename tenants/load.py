"""Load tenants.yaml and validate it completely: every problem, with its path and line, at once."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path as FsPath
from typing import Any

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .catalog import BUILTIN_CHANNELS, BUILTIN_PLANS
from .errors import FleetError, Path, Problem
from .model import (
    NAME,
    Defaults,
    DockerTarget,
    Fleet,
    Images,
    Plan,
    Target,
    Tenant,
    check_channel,
    check_domain,
    effective_limits,
)
from .secrets_scan import find_credentials

TOP_KEYS = ("version", "domain", "images", "channels", "defaults", "plans", "targets", "tenants")
DEFAULTED = ("plan", "target", "model_provider", "channel", "shard")

_TENANT = TypeAdapter(Tenant)
_TARGET: TypeAdapter[Target] = TypeAdapter(Target)
_TARGET_TAGS = ("docker",)


class _Lines:
    """Line numbers for paths, from a round-trip parse made only when a problem needs one."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._tree: Any = None

    def __call__(self, path: Path) -> int:
        if self._tree is None:
            try:
                self._tree = YAML(typ="rt").load(self._text)
            except Exception:  # the fast parser accepted it; lines are a courtesy
                self._tree = {}
        node, line = self._tree, 0
        for part in path:
            if isinstance(node, CommentedMap):
                key = part if part in node else _coerce_key(node, part)
                if key is None:
                    break
                line = node.lc.key(key)[0] + 1
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line


def _coerce_key(node: Mapping[Any, Any], part: str | int) -> Any:
    for key in node:
        if str(key) == str(part):
            return key
    return None


class _Collector:
    def __init__(self, lines: Callable[[Path], int]) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str) -> None:
        self.problems.append(Problem(self.lines(path), path, message))

    def pydantic(self, prefix: Path, error: ValidationError, strip_tag: bool = False) -> None:
        for item in error.errors(include_url=False):
            loc: tuple[str | int, ...] = tuple(item["loc"])
            if strip_tag and loc and loc[0] in _TARGET_TAGS:
                loc = loc[1:]
            self.add((*prefix, *loc), _message(item))


def _message(item: Mapping[str, Any]) -> str:
    kind: str = item["type"]
    msg: str = item["msg"]
    value = item.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {item['loc'][-1]!r}"
    if kind == "missing":
        return "required key is missing"
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.endswith("_type") or kind in ("literal_error", "union_tag_invalid", "enum"):
        if isinstance(value, (str, int, float, bool)) or value is None:
            return f"{msg}; got {value!r}"
        return f"{msg}; got a {_kind_name(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{msg}; got {value!r}"
    return msg


def _kind_name(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse(text: str, source: str) -> Any:
    """Parse with the fast loader; on failure report the syntax error's line."""
    try:
        return YAML(typ="safe").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise FleetError(source, [Problem(line, (), f"YAML syntax error: {problem}")]) from None
    except Exception as exc:  # any other parser failure is still the file's fault
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise FleetError(source, [Problem(0, (), f"YAML could not be read: {reason}")]) from None


def parse_fleet(text: str, source: str = "tenants.yaml") -> Fleet:
    """Validate fleet text; raise FleetError listing every problem."""
    if not text.strip():
        raise FleetError(
            source, [Problem(0, (), "file is empty; a fleet needs version: 1, domain, targets and tenants")]
        )
    data = _parse(text, source)
    out = _Collector(_Lines(text))
    if not isinstance(data, dict):
        out.add((), f"the top level must be a mapping of {', '.join(TOP_KEYS)}; got a {_kind_name(data)}")
        raise FleetError(source, out.problems)
    fleet = _validate(data, out)
    for path, message in find_credentials(data):
        out.add(path, message)
    if out.problems or fleet is None:
        raise FleetError(source, out.problems)
    return fleet


def load_fleet(path: str | FsPath) -> Fleet:
    path = FsPath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetError(str(path), [Problem(0, (), f"cannot read file: {exc}")]) from None
    return parse_fleet(text, str(path))


def _section(data: dict[str, Any], key: str, kind: type, out: _Collector, default: Any) -> Any:
    value = data.get(key, default)
    if value is None and key in data:
        value = default
    if not isinstance(value, kind):
        out.add((key,), f"must be a {'mapping' if kind is dict else 'list'}; got a {_kind_name(value)}")
        return default
    return value


def _validate(data: dict[str, Any], out: _Collector) -> Fleet | None:
    for key in data:
        if key not in TOP_KEYS:
            out.add((str(key),), f"unknown key {key!r}; allowed: {', '.join(TOP_KEYS)}")

    version = data.get("version")
    if "version" not in data:
        out.add(("version",), "required key is missing; this tool reads version: 1")
    elif version != 1 or isinstance(version, bool):
        out.add(("version",), f"unsupported version {version!r}; this tool reads version: 1")

    domain: Any = data.get("domain")
    if "domain" not in data:
        out.add(("domain",), "required key is missing; the tenants' base DNS name, like tenants.example.com")

    images = _model(Images, _section(data, "images", dict, out, {}), ("images",), out)
    defaults = _model(Defaults, _section(data, "defaults", dict, out, {}), ("defaults",), out)
    channels = _channels(_section(data, "channels", dict, out, {}), out)
    plans = _plans(_section(data, "plans", dict, out, {}), out)
    targets = _targets(_section(data, "targets", dict, out, {}), out, "targets" in data)
    raw_tenants = _section(data, "tenants", list, out, [])

    tenants = _tenants(raw_tenants, defaults or Defaults(), out)
    if defaults is not None:
        _check_defaults(defaults, plans, targets, channels, out)
    _check_references(tenants, plans, targets, channels, out)
    _check_capacity(tenants, plans, targets, out)

    if isinstance(domain, str):
        try:
            check_domain(domain)
        except ValueError as exc:
            out.add(("domain",), str(exc))
    elif "domain" in data:
        out.add(("domain",), f"must be a DNS name like tenants.example.com; got {domain!r}")
    if out.problems or images is None or defaults is None:
        return None
    return Fleet.model_construct(
        version=1,
        domain=str(domain),
        images=images,
        channels=channels,
        defaults=defaults,
        plans=plans,
        targets=targets,
        tenants=tuple(t for _, t in tenants),
    )


def _model(kind: Any, raw: dict[str, Any], path: Path, out: _Collector) -> Any:
    try:
        return kind.model_validate(raw)
    except ValidationError as exc:
        out.pydantic(path, exc)
        return None


def _check_name(name: Any, path: Path, what: str, out: _Collector) -> bool:
    if not isinstance(name, str) or not NAME.match(name):
        out.add(path, f"{what} name {name!r} must be lowercase letters, digits and '-' (at most 32)")
        return False
    return True


def _channels(raw: dict[str, Any], out: _Collector) -> dict[str, str]:
    merged = dict(BUILTIN_CHANNELS)
    for name, version in raw.items():
        path: Path = ("channels", str(name))
        if not isinstance(version, str):
            out.add(path, f'must be an exact OpenClaw version string like "2026.9.6"; got {version!r}')
            continue
        try:
            check_channel(str(name), version)
        except ValueError as exc:
            out.add(path, str(exc))
            continue
        merged[str(name)] = version
    return merged


def _plans(raw: dict[str, Any], out: _Collector) -> dict[str, Plan]:
    plans: dict[str, Plan] = {}
    for name, body in {**BUILTIN_PLANS, **raw}.items():
        path: Path = ("plans", str(name))
        if not _check_name(name, path, "plan", out):
            continue
        if name in raw and not isinstance(raw[name], dict):
            out.add(path, f"must be a mapping of plan fields; got a {_kind_name(raw[name])}")
            continue
        merged = _merge(BUILTIN_PLANS[name], raw.get(name, {})) if name in BUILTIN_PLANS else body
        try:
            plans[name] = Plan.model_validate(merged)
        except ValidationError as exc:
            out.pydantic(path, exc)
    return plans


def _targets(raw: dict[str, Any], out: _Collector, present: bool) -> dict[str, Target]:
    if not raw:
        out.add(("targets",), "at least one target is required, e.g. local: {type: docker, capacity: ...}")
    targets: dict[str, Target] = {}
    for name, body in raw.items():
        path: Path = ("targets", str(name))
        if not _check_name(name, path, "target", out):
            continue
        try:
            targets[name] = _TARGET.validate_python(body)
        except ValidationError as exc:
            out.pydantic(path, exc, strip_tag=True)
    return targets


def _tenants(raw: list[Any], defaults: Defaults, out: _Collector) -> list[tuple[int, Tenant]]:
    tenants: list[tuple[int, Tenant]] = []
    for index, item in enumerate(raw):
        path: Path = ("tenants", index)
        if not isinstance(item, dict):
            out.add(path, f"each tenant must be a mapping with at least an id; got a {_kind_name(item)}")
            continue
        filled = dict(item)
        for key in DEFAULTED:
            default = getattr(defaults, key)
            if key not in filled and default is not None:
                filled[key] = default
        for key in ("target", "model_provider"):
            if key not in filled:
                out.add((*path, key), f"required key is missing and defaults.{key} is not set")
        try:
            tenants.append((index, _TENANT.validate_python(filled)))
        except ValidationError as exc:
            errors = [e for e in exc.errors() if not (e["type"] == "missing" and e["loc"][0] in DEFAULTED)]
            if errors:
                out.pydantic(path, ValidationError.from_exception_data(exc.title, errors))  # type: ignore[arg-type]
    return tenants


def _check_defaults(
    defaults: Defaults,
    plans: Mapping[str, Plan],
    targets: Mapping[str, Target],
    channels: Mapping[str, str],
    out: _Collector,
) -> None:
    if defaults.plan not in plans:
        out.add(("defaults", "plan"), f"unknown plan {defaults.plan!r}; known: {_known(plans)}")
    if defaults.target is not None and targets and defaults.target not in targets:
        out.add(("defaults", "target"), f"unknown target {defaults.target!r}; known: {_known(targets)}")
    if defaults.channel not in channels:
        out.add(("defaults", "channel"), f"unknown channel {defaults.channel!r}; known: {_known(channels)}")


def _known(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


def _check_references(
    tenants: list[tuple[int, Tenant]],
    plans: Mapping[str, Plan],
    targets: Mapping[str, Target],
    channels: Mapping[str, str],
    out: _Collector,
) -> None:
    first: dict[str, int] = {}
    for index, tenant in tenants:
        path: Path = ("tenants", index)
        if tenant.id in first:
            out.add(
                (*path, "id"),
                f"duplicate tenant id {tenant.id!r}; first declared at tenants[{first[tenant.id]}]",
            )
        else:
            first[tenant.id] = index
        if tenant.plan not in plans:
            out.add((*path, "plan"), f"unknown plan {tenant.plan!r}; known: {_known(plans)}")
        if targets and tenant.target not in targets:
            out.add((*path, "target"), f"unknown target {tenant.target!r}; known: {_known(targets)}")
        if tenant.channel not in channels:
            out.add((*path, "channel"), f"unknown channel {tenant.channel!r}; known: {_known(channels)}")
        plan = plans.get(tenant.plan)
        if plan is None:
            continue
        for field in ("cpus", "memory_gib", "storage_gib"):
            value, top = getattr(tenant.overrides, field), getattr(plan.max, field)
            if value is not None and value > top:
                out.add(
                    (*path, "overrides", field),
                    f"{value} is above plan {tenant.plan!r} max {top}; choose a larger plan",
                )


def _check_capacity(
    tenants: list[tuple[int, Tenant]],
    plans: Mapping[str, Plan],
    targets: Mapping[str, Target],
    out: _Collector,
) -> None:
    cpus: dict[str, float] = defaultdict(float)
    memory: dict[str, float] = defaultdict(float)
    networks: dict[str, int] = defaultdict(int)
    shards: dict[str, set[str]] = defaultdict(set)
    for _, tenant in tenants:
        plan = plans.get(tenant.plan)
        if plan is None or tenant.target not in targets:
            continue
        shards[tenant.target].add(tenant.shard)
        if tenant.live:
            networks[tenant.target] += 1
        if tenant.state == "active":
            limits = effective_limits(plan, tenant.overrides)
            cpus[tenant.target] += limits.cpus
            memory[tenant.target] += limits.memory_gib
    for name, target in targets.items():
        if not isinstance(target, DockerTarget):
            continue
        if len(shards[name]) > 1:
            out.add(
                ("targets", name),
                f"target {name!r} has tenants in shards {', '.join(sorted(shards[name]))}; a Docker "
                "target serves one shard (its one edge proxy belongs to one stack)",
            )
        cap, ratio, path = target.capacity, target.overcommit, ("targets", name, "capacity")
        if cpus[name] > cap.cpus * ratio.cpu:
            out.add(
                (*path, "cpus"),
                f"target {name!r}: active tenants need {cpus[name]:g} CPUs but capacity is "
                f"{cap.cpus:g} x overcommit {ratio.cpu:g} = {cap.cpus * ratio.cpu:g}",
            )
        if memory[name] > cap.memory_gib * ratio.memory:
            out.add(
                (*path, "memory_gib"),
                f"target {name!r}: active tenants need {memory[name]:g} GiB memory but capacity is "
                f"{cap.memory_gib:g} x overcommit {ratio.memory:g} = {cap.memory_gib * ratio.memory:g} GiB",
            )
        # One network per active or suspended tenant, plus the edge proxy's own.
        if networks[name] + 1 > cap.networks:
            out.add(
                (*path, "networks"),
                f"target {name!r}: {networks[name]} tenant networks + 1 edge network exceed the "
                f"{cap.networks} its daemon's address pools allow; widen default-address-pools (README)",
            )
