"""Load tenants.yaml and validate it completely: every problem, with its path and line, at once."""

from __future__ import annotations

import copy
import dataclasses
import gc
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.resolver import VersionedResolver

from .catalog import BUILTIN_CHANNELS, BUILTIN_MODELS, BUILTIN_PLANS
from .cookie_sites import domain_problems
from .errors import FleetError, Path, Problem, plain_message
from .host_uid import HOST_UID_MAX, HOST_UID_MIN, host_uid
from .model import (
    NAME,
    UNFILTERED,
    Backups,
    CatalogModel,
    Defaults,
    DockerTarget,
    Fleet,
    Images,
    KubernetesTarget,
    Plan,
    Target,
    Tenant,
    check_channel,
    check_domain,
    check_dotted_domain,
    check_model_id,
    effective_limits,
)
from .secrets_scan import find_credentials

TOP_KEYS = (
    "version",
    "domain",
    "public_suffixes",
    "backups",
    "images",
    "channels",
    "defaults",
    "models",
    "plans",
    "targets",
    "tenants",
)
DEFAULTED = ("plan", "target", "model_provider", "channel", "shard")

LIMIT_FIELDS = ("cpus", "memory_gib", "storage_gib")
# Every field a plan's `max` caps, and so every field a tenant's overrides may raise.
CEILING_FIELDS = (*LIMIT_FIELDS, "model_budget_usd", "model_rpm", "model_tpm")
TARGET_TYPES: dict[str, type[DockerTarget] | type[KubernetesTarget]] = {
    "docker": DockerTarget,
    "kubernetes": KubernetesTarget,
}

_TENANT = TypeAdapter(Tenant)


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

    def pydantic(self, prefix: Path, error: ValidationError) -> None:
        for item in error.errors(include_url=False):
            loc = tuple(part for part in item["loc"] if part != "[key]")
            self.add((*prefix, *loc), _message(item))


def _message(item: Mapping[str, Any]) -> str:
    kind: str = item["type"]
    msg: str = item["msg"]
    value = item.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {item['loc'][-1]!r}"
    if kind == "missing":
        return "required key is missing"
    msg = plain_message(msg)
    if isinstance(value, (dict, list)):
        return f"{msg}; got a {_kind_name(value)}" if kind.endswith("_type") else msg
    # Our own validators name the value already; pydantic's built-in checks do not.
    return msg if kind == "value_error" else f"{msg}; got {value!r}"


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


class _CachedVersionResolver(VersionedResolver):
    """Looks up the document's YAML version once, not on every scalar (a third of a large file's load)."""

    _version: Any = None

    @property
    def processing_version(self) -> Any:
        if self._version is None:
            self._version = VersionedResolver.processing_version.fget(self)  # type: ignore[attr-defined]
        return self._version


def _parse(text: str, source: str) -> Any:
    """Parse with the fast (libyaml) loader; explain a failure with the pure one, whose messages
    and marks are the same on every machine."""
    fast = YAML(typ="safe")
    fast.Resolver = _CachedVersionResolver
    try:
        return fast.load(text)
    except Exception:  # explained below by the pure parser
        pass
    try:
        return YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # A construct left open is reported at the end of the file; its start is the useful line.
        if exc.context_mark is not None and "end of stream" in str(exc.problem):
            mark = exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        if exc.context and mark is exc.context_mark:
            problem = f"{' '.join(str(exc.context).split())}: {problem}"
        raise FleetError(source, [Problem(line, (), f"YAML syntax error: {problem}")]) from None
    except Exception as exc:  # any other parser failure is still the file's fault
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise FleetError(source, [Problem(0, (), f"YAML could not be read: {reason}")]) from None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block: building (or unpickling) a large fleet makes
    hundreds of thousands of small objects and frees none, so every full collection on the way walks
    them all again for nothing. Cycles are still collected afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_fleet(text: str, source: str = "tenants.yaml") -> Fleet:
    """Validate fleet text; raise FleetError listing every problem."""
    with gc_paused():
        return _parse_fleet(text, source)


def _parse_fleet(text: str, source: str) -> Fleet:
    if not text.strip():
        raise FleetError(
            source, [Problem(0, (), "file is empty; a fleet needs version: 1, domain, targets and tenants")]
        )
    data = _parse(text, source)
    if data is None:
        raise FleetError(
            source, [Problem(0, (), "file is empty; a fleet needs version: 1, domain, targets and tenants")]
        )
    out = _Collector(_Lines(text))
    alias_problem = _alias_problem(data)
    if alias_problem:
        out.add((), alias_problem)
        raise FleetError(source, out.problems)
    if not isinstance(data, dict):
        out.add((), f"the top level must be a mapping of {', '.join(TOP_KEYS)}; got a {_kind_name(data)}")
        raise FleetError(source, out.problems)
    fleet = _validate(data, out)
    for path, message in find_credentials(data):
        out.add(path, message)
    if out.problems or fleet is None:
        raise FleetError(source, out.problems)
    return fleet


MAX_VALUES = 1_000_000


def _alias_problem(data: Any) -> str | None:
    """YAML aliases may share or nest nodes; refuse cycles and documents that expand enormously."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in open_nodes:
            raise RecursionError
        if key not in sizes:
            open_nodes.add(key)
            children = node.values() if isinstance(node, dict) else node
            sizes[key] = 1 + sum(size(child) for child in children)
            open_nodes.discard(key)
        return sizes[key]

    try:
        total = size(data)
    except RecursionError:
        return "a YAML alias refers to itself (recursive structure); tenants.yaml must be a tree"
    if total > MAX_VALUES:
        return f"YAML aliases expand this document to {total:,} values (more than {MAX_VALUES:,})"
    return None


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
    elif type(version) is not int or version != 1:
        out.add(("version",), f"unsupported version {version!r}; this tool reads version: 1")

    domain: Any = data.get("domain")
    if "domain" not in data:
        out.add(("domain",), "required key is missing; the tenants' base DNS name, like tenants.example.com")
    elif not isinstance(domain, str):
        out.add(("domain",), f"must be a DNS name like tenants.example.com; got {domain!r}")
    else:
        try:
            check_domain(domain)
        except ValueError as exc:
            out.add(("domain",), str(exc))

    images = _model(Images, _section(data, "images", dict, out, {}), ("images",), out)
    raw_backups = data.get("backups")
    backups = (
        None if raw_backups is None else _model(Backups, _section(data, "backups", dict, out, {}), ("backups",), out)
    )
    defaults, broken_defaults = _defaults(_section(data, "defaults", dict, out, {}), out)
    channels = _channels(_section(data, "channels", dict, out, {}), out)
    models, broken_models = _models(_section(data, "models", dict, out, {}), out)
    plans, broken_plans = _plans(_section(data, "plans", dict, out, {}), out)
    _check_allowlists(plans, models, broken_models, out)
    targets = _targets(data, out)
    raw_tenants = _section(data, "tenants", list, out, [])

    tenants = _tenants(raw_tenants, defaults, broken_defaults, out)
    known = _Known(plans, broken_plans, targets, channels)
    _check_defaults(defaults, known, out)
    _check_runtime_classes(targets, known, out)
    _check_cluster_plan_egress(tenants, plans, targets, out)
    _check_references(tenants, known, out)
    _check_tenant_models(tenants, plans, models, broken_models, out)
    _check_capacity(tenants, plans, targets, out)
    _check_host_uids(tenants, targets, out)
    _check_retained_on(tenants, targets, out)
    public_suffixes = _public_suffixes(_section(data, "public_suffixes", list, out, []), out)
    loaded = [t.tenant for t in tenants]
    for index, message in domain_problems(str(domain), public_suffixes, targets, loaded):
        out.add((*tenants[index].path, "domain"), message)

    if out.problems or images is None:
        return None
    return Fleet.model_construct(
        version=1,
        domain=str(domain),
        images=images,
        channels=channels,
        defaults=defaults,
        plans=plans,
        targets=targets,
        tenants=tuple(t.tenant for t in tenants),
        models=models,
        public_suffixes=public_suffixes,
        backups=backups,
    )


def _public_suffixes(raw: list[Any], out: _Collector) -> tuple[str, ...]:
    """The domains the operator declares to be on the Public Suffix List (tenants/cookie_sites.py)."""
    found: list[str] = []
    for index, name in enumerate(raw):
        try:
            if not isinstance(name, str):
                raise ValueError(f"must be a DNS name like tenants.example.com; got {name!r}")
            found.append(check_dotted_domain(name))
        except ValueError as exc:
            out.add(("public_suffixes", index), str(exc))
    return tuple(found)


def _defaults(raw: dict[str, Any], out: _Collector) -> tuple[Defaults, set[str]]:
    """The valid part of `defaults`, and the keys that are broken (already reported)."""
    try:
        return Defaults.model_validate(raw), set()
    except ValidationError as exc:
        out.pydantic(("defaults",), exc)
        broken = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        usable = {k: v for k, v in raw.items() if k not in broken}
        return Defaults.model_validate(usable), broken


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


def _plans(raw: dict[str, Any], out: _Collector) -> tuple[dict[str, Plan], set[str]]:
    """Valid plans, and the names of declared plans that are broken (already reported)."""
    plans: dict[str, Plan] = {}
    broken: set[str] = set()
    for name, body in {**BUILTIN_PLANS, **raw}.items():
        path: Path = ("plans", str(name))
        if not _check_name(name, path, "plan", out):
            continue
        broken.add(name)
        if name in raw and not isinstance(raw[name], dict):
            out.add(path, f"must be a mapping of plan fields; got a {_kind_name(raw[name])}")
            continue
        merged = _merge(BUILTIN_PLANS[name], raw.get(name, {})) if name in BUILTIN_PLANS else body
        try:
            plan = Plan.model_validate(merged)
        except ValidationError as exc:
            out.pydantic(path, exc)
            continue
        above = [f for f in CEILING_FIELDS if getattr(plan, f) > getattr(plan.max, f)]
        for field in above:
            base, top = getattr(plan, field), getattr(plan.max, field)
            out.add((*path, field), f"{field} {base} is above this plan's max.{field} {top}")
        if not above:
            plans[name] = plan
            broken.discard(name)
    return plans, broken


def _models(raw: dict[str, Any], out: _Collector) -> tuple[dict[str, CatalogModel], set[str]]:
    """The model catalog (the built-in models with the fleet's own merged over them, field by field),
    and the names of declared models that are broken (already reported)."""
    models: dict[str, CatalogModel] = {}
    broken: set[str] = set()
    for name, body in {**BUILTIN_MODELS, **raw}.items():
        path: Path = ("models", str(name))
        broken.add(str(name))
        try:
            check_model_id(str(name))
        except ValueError as exc:
            out.add(path, str(exc))
            continue
        if name in raw and not isinstance(raw[name], dict):
            out.add(path, f"must be a mapping of model fields; got a {_kind_name(raw[name])}")
            continue
        merged = _merge(BUILTIN_MODELS[name], raw.get(name, {})) if name in BUILTIN_MODELS else body
        try:
            models[str(name)] = CatalogModel.model_validate(merged)
        except ValidationError as exc:
            out.pydantic(path, exc)
            continue
        broken.discard(str(name))
    return models, broken


def _check_allowlists(
    plans: Mapping[str, Plan], models: Mapping[str, CatalogModel], broken: set[str], out: _Collector
) -> None:
    """Every model a plan allows must be in the catalog (the built-in models or the fleet's `models:`)."""
    for name, plan in plans.items():
        for index, model in enumerate(plan.models):
            if model not in models and model not in broken:
                out.add(("plans", name, "models", index), f"unknown model {model!r}; known: {_known(models)}")


def _check_tenant_models(
    tenants: list[_Loaded],
    plans: Mapping[str, Plan],
    models: Mapping[str, CatalogModel],
    broken: set[str],
    out: _Collector,
) -> None:
    """A tenant's provider must have a model its plan allows: its default model is the first of them.
    A plan naming a broken model is not judged (the model's problem is reported already)."""
    for loaded in tenants:
        tenant = loaded.tenant
        plan = plans.get(tenant.plan)
        if plan is None or broken.intersection(plan.models):
            continue
        known = [m for m in plan.models if m in models]
        if known and not any(models[m].provider == tenant.model_provider for m in known):
            out.add(
                (*loaded.path, "model_provider"),
                f"plan {tenant.plan!r} allows no {tenant.model_provider} model (it allows {', '.join(known)}); "
                "choose another provider or plan, or add a model of this provider to the plan's models",
            )


def _targets(data: dict[str, Any], out: _Collector) -> dict[str, Target]:
    raw = data.get("targets")
    if raw is not None and not isinstance(raw, dict):
        out.add(("targets",), f"must be a mapping; got a {_kind_name(raw)}")
        return {}
    if not raw:
        out.add(("targets",), "at least one target is required, e.g. local: {type: docker, capacity: ...}")
        return {}
    targets: dict[str, Target] = {}
    for name, body in raw.items():
        path: Path = ("targets", str(name))
        if not _check_name(name, path, "target", out):
            continue
        if isinstance(body, dict) and body.get("type") not in TARGET_TYPES:
            if "type" not in body:
                out.add((*path, "type"), f"required key is missing; one of: {', '.join(TARGET_TYPES)}")
            else:
                kinds = ", ".join(repr(k) for k in TARGET_TYPES)
                out.add((*path, "type"), f"unknown target type {body['type']!r}; expected one of {kinds}")
            continue
        try:
            kind = TARGET_TYPES[body["type"]] if isinstance(body, dict) else DockerTarget
            targets[name] = kind.model_validate(body)
        except ValidationError as exc:
            out.pydantic(path, exc)
    return targets


@dataclass(frozen=True)
class _Loaded:
    index: int
    tenant: Tenant
    inherited: frozenset[str]

    @property
    def path(self) -> Path:
        return ("tenants", self.index)


def _tenants(raw: list[Any], defaults: Defaults, broken: set[str], out: _Collector) -> list[_Loaded]:
    tenants: list[_Loaded] = []
    for index, item in enumerate(raw):
        path: Path = ("tenants", index)
        if not isinstance(item, dict):
            out.add(path, f"each tenant must be a mapping with at least an id; got a {_kind_name(item)}")
            continue
        filled = dict(item)
        inherited = set()
        for key in DEFAULTED:
            default = getattr(defaults, key)
            if key not in filled and default is not None:
                filled[key] = default
                inherited.add(key)
        for key in ("target", "model_provider"):
            if key not in filled and key not in broken:
                out.add((*path, key), f"required key is missing and defaults.{key} is not set")
        try:
            tenants.append(_Loaded(index, _TENANT.validate_python(filled), frozenset(inherited)))
        except ValidationError as exc:
            errors = [e for e in exc.errors() if not (e["type"] == "missing" and e["loc"][0] in DEFAULTED)]
            if errors:
                out.pydantic(path, ValidationError.from_exception_data(exc.title, errors))  # type: ignore[arg-type]
    return tenants


@dataclass(frozen=True)
class _Known:
    plans: Mapping[str, Plan]
    broken_plans: set[str]
    targets: Mapping[str, Target]
    channels: Mapping[str, str]

    def unknown(self, kind: str, name: str) -> str | None:
        """A message when `name` is not declared; None when fine or already reported as broken."""
        names: Iterable[str] = {
            "plan": [*self.plans, *self.broken_plans],
            "target": self.targets,
            "channel": self.channels,
        }[kind]
        if name in names or (kind == "target" and not self.targets):
            return None
        return f"unknown {kind} {name!r}; known: {_known(names)}"


def _check_defaults(defaults: Defaults, known: _Known, out: _Collector) -> None:
    for kind in ("plan", "target", "channel"):
        name = getattr(defaults, kind)
        message = known.unknown(kind, name) if name is not None else None
        if message:
            out.add(("defaults", kind), message)


def _known(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


def _check_runtime_classes(targets: Mapping[str, Target], known: _Known, out: _Collector) -> None:
    """A cluster's runtime classes and a Docker host's runtimes are keyed by plan."""
    for name, target in targets.items():
        key, plans = (
            ("runtime_class", target.runtime_class)
            if isinstance(target, KubernetesTarget)
            else ("runtime", target.runtime)
        )
        for plan in plans:
            message = known.unknown("plan", plan)
            if message:
                out.add(("targets", name, key, plan), message)


def _check_cluster_plan_egress(
    tenants: list[_Loaded], plans: Mapping[str, Plan], targets: Mapping[str, Target], out: _Collector
) -> None:
    """A plan's egress replaces its cluster's mode, so a cluster must be able to give it: never
    direct-unfiltered (a NetworkPolicy always applies), and internet only with the cluster's cidrs."""
    users: dict[tuple[str, str], list[str]] = defaultdict(list)
    for loaded in tenants:
        tenant = loaded.tenant
        plan, target = plans.get(tenant.plan), targets.get(tenant.target)
        if plan is not None and isinstance(target, KubernetesTarget) and plan.egress in ("internet", UNFILTERED):
            users[(tenant.plan, tenant.target)].append(tenant.id)
    for (name, cluster), ids in users.items():
        mode, target = plans[name].egress, targets[cluster]
        assert isinstance(target, KubernetesTarget)
        who = f"cluster {cluster!r} (tenants {', '.join(ids)})"
        if mode == UNFILTERED:
            out.add(
                ("plans", name, "egress"),
                f"plan {name!r} has egress {UNFILTERED}, which {who} cannot give: a NetworkPolicy always "
                "applies on Kubernetes; give the plan egress internet, or move its tenants to a Docker target",
            )
        elif not target.egress.cidrs:
            out.add(
                ("plans", name, "egress"),
                f"plan {name!r} has egress internet, but {who} has no egress.cidrs to allow; give the "
                "cluster egress mode internet with cidrs and excluded, or the plan egress models",
            )


def _check_references(tenants: list[_Loaded], known: _Known, out: _Collector) -> None:
    first: dict[str, int] = {}
    for loaded in tenants:
        tenant, path = loaded.tenant, loaded.path
        if tenant.id in first:
            out.add(
                (*path, "id"),
                f"duplicate tenant id {tenant.id!r}; first declared at tenants[{first[tenant.id]}]",
            )
        else:
            first[tenant.id] = loaded.index
        for kind in ("plan", "target", "channel"):
            # A value inherited from `defaults` is reported once, there.
            message = None if kind in loaded.inherited else known.unknown(kind, getattr(tenant, kind))
            if message:
                out.add((*path, kind), message)
        plan = known.plans.get(tenant.plan)
        if plan is None:
            continue
        for field in CEILING_FIELDS:
            value, top = getattr(tenant.overrides, field), getattr(plan.max, field)
            if value is not None and value > top:
                out.add(
                    (*path, "overrides", field),
                    f"{value} is above plan {tenant.plan!r} max {top}; choose a larger plan",
                )


def _check_retained_on(tenants: list[_Loaded], targets: Mapping[str, Target], out: _Collector) -> None:
    """``retained_on`` lists the other Docker targets that still hold an earlier copy of a tenant's data
    (left by ``tenantctl move``), each once: its storage counts there until the copy is purged."""
    for loaded in tenants:
        tenant = loaded.tenant
        first: dict[str, int] = {}
        for index, name in enumerate(tenant.retained_on):
            path = (*loaded.path, "retained_on", index)
            target = targets.get(name)
            if name in first:
                out.add(path, f"target {name!r} is listed twice (first at retained_on[{first[name]}]); remove one")
                continue
            first[name] = index
            if name == tenant.target:
                out.add(
                    path,
                    f"target {name!r} is tenant {tenant.id!r}'s own target; retained_on lists the other targets "
                    "that still hold an earlier copy of its data; remove it",
                )
            elif target is None:
                if targets:
                    out.add(path, f"unknown target {name!r}; known: {_known(targets)}")
            elif isinstance(target, KubernetesTarget):
                out.add(
                    path,
                    f"target {name!r} is a Kubernetes target; retained_on lists Docker targets only (tenantctl "
                    "move moves tenants between Docker targets)",
                )


def _check_host_uids(tenants: list[_Loaded], targets: Mapping[str, Target], out: _Collector) -> None:
    """Two tenants of one target never share a host uid (tenants/host_uid.py): they would share its
    kernel limits, and each could read the other's data. Every tenant of the file counts, offboarded
    ones too (their volumes stay). Derived uids collide rarely; `host_uid` on one tenant settles it."""
    first: dict[tuple[str, int], _Loaded] = {}
    for loaded in tenants:
        tenant = loaded.tenant
        if tenant.target not in targets:
            continue
        uid = host_uid(tenant.id, tenant.host_uid)
        seen = first.setdefault((tenant.target, uid), loaded)
        if seen is loaded or seen.tenant.id == tenant.id:  # a duplicate id is reported as one
            continue
        out.add(
            (*loaded.path, "id" if tenant.host_uid is None else "host_uid"),
            f"tenant {tenant.id!r} gets host uid {uid}, as does tenant {seen.tenant.id!r} (tenants[{seen.index}]) "
            f"on target {tenant.target!r}; set host_uid on one of them to an unused uid from {HOST_UID_MIN} "
            f"to {HOST_UID_MAX}",
        )


@dataclass
class _Totals:
    """What a target's tenants add up to."""

    cpus: float = 0.0  # active tenants
    memory_gib: float = 0.0  # active tenants
    networks: int = 0  # active and suspended tenants
    storage_gib: int = 0  # every tenant until it is purged, and copies left behind by moves
    shards: set[str] = dataclasses.field(default_factory=set)


def _check_capacity(
    tenants: list[_Loaded],
    plans: Mapping[str, Plan],
    targets: Mapping[str, Target],
    out: _Collector,
) -> None:
    totals: dict[str, _Totals] = defaultdict(_Totals)
    for loaded in tenants:
        tenant = loaded.tenant
        plan, target = plans.get(tenant.plan), targets.get(tenant.target)
        if plan is None or target is None:
            continue
        total = totals[tenant.target]
        total.shards.add(tenant.shard)
        total.networks += tenant.live
        limits = effective_limits(plan, tenant.overrides)
        total.storage_gib += limits.storage_gib
        for former in tenant.retained_on:
            totals[former].storage_gib += limits.storage_gib
        # Docker refuses a container limit above the host's own size, whatever the overcommit.
        host_size = (("cpus", target.capacity.cpus), ("memory_gib", target.capacity.memory_gib))
        for name, have in host_size if isinstance(target, DockerTarget) else ():
            need = getattr(limits, name)
            if tenant.live and need > have:
                out.add(
                    (*loaded.path, "plan"),
                    f"tenant {tenant.id!r} needs {name} {need:g} but target {tenant.target!r} has only "
                    f"{have:g}; choose a smaller plan, lower overrides.{name}, or a larger target",
                )
        if tenant.state == "active":
            total.cpus += limits.cpus
            total.memory_gib += limits.memory_gib
    for name, target in targets.items():
        _check_target_totals(name, target, totals[name], out)


def _check_target_totals(name: str, target: Target, total: _Totals, out: _Collector) -> None:
    if isinstance(target, DockerTarget) and len(total.shards) > 1:
        out.add(
            ("targets", name),
            f"target {name!r} has tenants in shards {', '.join(sorted(total.shards))}; a Docker "
            "target serves one shard (its one edge proxy belongs to one stack)",
        )
    cap, ratio, path = target.capacity, target.overcommit, ("targets", name, "capacity")
    if total.cpus > cap.cpus * ratio.cpu:
        out.add(
            (*path, "cpus"),
            f"target {name!r}: active tenants need {total.cpus:g} CPUs but capacity is "
            f"{cap.cpus:g} x overcommit {ratio.cpu:g} = {cap.cpus * ratio.cpu:g}",
        )
    if total.memory_gib > cap.memory_gib * ratio.memory:
        out.add(
            (*path, "memory_gib"),
            f"target {name!r}: active tenants need {total.memory_gib:g} GiB memory but capacity is "
            f"{cap.memory_gib:g} x overcommit {ratio.memory:g} = {cap.memory_gib * ratio.memory:g} GiB",
        )
    have = cap.storage_gib
    if have is not None and total.storage_gib > have * ratio.storage:
        out.add(
            (*path, "storage_gib"),
            f"target {name!r}: tenants' data needs {total.storage_gib} GiB (every tenant until it is purged, and "
            f"copies left by moves) but capacity is {have} GiB x overcommit {ratio.storage:g} = "
            f"{have * ratio.storage:g} GiB; purge offboarded tenants, or add disk and raise capacity.storage_gib",
        )
    # One network per active or suspended tenant, plus the edge proxy's own.
    if isinstance(target, DockerTarget) and total.networks + 1 > target.capacity.networks:
        out.add(
            (*path, "networks"),
            f"target {name!r}: {total.networks} tenant networks + 1 edge network exceed the "
            f"{target.capacity.networks} its daemon's address pools allow; widen default-address-pools "
            "(README)",
        )
