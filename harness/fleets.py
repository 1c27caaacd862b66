"""Generated, valid fleets of any size, and deterministic edits of them, for the tests and the benchmarks.

``generate_fleet(n, seed)`` builds the fleet as plain data (what ``tenants.yaml`` parses to) and
``fleet_yaml(doc)`` writes it as block-style YAML, the way people write ``tenants.yaml``;
``generate_fleet_yaml`` does both. Tenants are spread over Docker targets ``host-01``, ``host-02``, ...
(``tenants_per_host`` each, every host in one shard of ``hosts_per_shard`` hosts) with room enough for
the capacity and network checks; plans, states, channels, providers, labels and overrides are mixed
by a seeded random generator, so the same arguments always give the same text.

``uniform_fleet(n, backend)`` is the fleet whose cost per tenant the benchmarks measure: every tenant
active, the built-in plans in turn, on Docker hosts or on one Kubernetes cluster.

``mutate_fleet(doc, seed, add=..., suspend=..., ...)`` returns an edited copy and a ``Mutation``
naming exactly which tenants each edit touched (disjoint sets), so a test can check a diff's counts.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Literal, get_args

from tenants.contract import DEFAULT_STATE, TENANT_STATES

Doc = dict[str, Any]
Backend = Literal["docker", "kubernetes"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)

BUILT_IN_PLANS = ("basic", "pro", "enterprise")
PLANS = (*BUILT_IN_PLANS, "starter")
PLAN_WEIGHTS = (55, 30, 5, 10)
STATE_WEIGHTS = (85, 10, 5)  # in the order of TENANT_STATES
TENANTS_PER_HOST = 200
# Where the real-engine tests' tenant disks live on this host: apart from the dev stack's (make up).
TEST_DISK_ROOT = "/var/lib/openclaw-tenants/test-disks"
PROVIDERS = ("kimi", "minimax", "anthropic", "openai", "openrouter")
# A custom plan with a price in cents, so cost sums exercise exact decimal arithmetic.
STARTER_PLAN: dict[str, Any] = {
    "cpus": 0.5,
    "memory_gib": 1,
    "storage_gib": 2,
    "max": {
        "cpus": 1,
        "memory_gib": 2,
        "storage_gib": 10,
        "model_budget_usd": "10.00",
        "model_rpm": 30,
        "model_tpm": 50_000,
    },
    "pids_limit": 256,
    "rate_limit_rps": 5,
    "burst": 10,
    "monthly_price": "9.99",
    "model_budget_usd": "2.50",
    "model_rpm": 10,
    "model_tpm": 20_000,
    "models": ["kimi-k2.6", "minimax-m2.7", "claude-haiku-4-5", "gpt-5-mini", "openrouter-kimi-k2.6"],
}
# Overrides within each plan's max (tenants.yaml refuses anything above it).
OVERRIDES: dict[str, tuple[dict[str, Any], ...]] = {
    "basic": ({"memory_gib": 3}, {"storage_gib": 10}, {"cpus": 1.5, "memory_gib": 4}),
    "pro": ({"memory_gib": 6}, {"storage_gib": 50}, {"cpus": 3}),
    "enterprise": ({"memory_gib": 16}, {"storage_gib": 500}, {"cpus": 8, "memory_gib": 24}),
    "starter": ({"memory_gib": 2}, {"storage_gib": 5}),
}
# Effective storage of each plan without overrides (the built-in figures, and STARTER_PLAN's).
PLAN_STORAGE = {"basic": 5, "pro": 20, "enterprise": 100, "starter": 2}


def docker(networks: int = 30) -> Doc:
    return {
        "type": "docker",
        "host": "ssh://ops@host",
        "capacity": {"cpus": 16, "memory_gib": 64, "networks": networks, "storage_gib": 10_000_000},
    }


# A small hand-written fleet for exact tests: Docker hosts host-a and host-b (shard eu) and host-c (shard us),
# a cluster (shard k8s), every plan and state. Costs while active: basic 29.00, pro 99.00, enterprise 499.00,
# starter 9.99.
SMALL_FLEET: Doc = {
    "version": 1,
    "domain": "tenants.example.com",
    "channels": {"next": "2026.10.1"},
    "defaults": {"model_provider": "kimi"},
    "plans": {"starter": STARTER_PLAN},
    "targets": {
        "host-a": docker(),
        "host-b": docker(),
        "host-c": docker(),
        "cluster": {
            "type": "kubernetes",
            "context": "prod",
            "capacity": {"cpus": 64, "memory_gib": 256, "storage_gib": 4000},
        },
    },
    "tenants": [
        {"id": "acme", "plan": "basic", "target": "host-a", "shard": "eu"},
        {"id": "globex", "plan": "pro", "target": "host-a", "shard": "eu", "labels": {"billing-account": "1002"}},
        {"id": "initech", "plan": "enterprise", "target": "host-b", "shard": "eu"},
        {"id": "umbrella", "plan": "basic", "target": "host-c", "shard": "us", "state": "suspended"},
        {"id": "hooli", "plan": "pro", "target": "cluster", "shard": "k8s"},
        {"id": "vandelay", "plan": "starter", "target": "host-c", "shard": "us", "state": "offboarded"},
        {"id": "stark", "plan": "starter", "target": "host-c", "shard": "us"},
        {"id": "wayne", "plan": "starter", "target": "host-c", "shard": "us"},
    ],
}
SMALL_FLEET_COST = Decimal("745.98")  # 29 + 99 + 499 + 99 + 2 x 9.99; umbrella and vandelay cost nothing


def tenant_id(index: int) -> str:
    return f"cust-{index:05d}"


def host_name(index: int) -> str:
    return f"host-{index + 1:02d}"


def shard_name(index: int) -> str:
    return f"shard-{index + 1:02d}"


def hosts_for(n: int, tenants_per_host: int) -> int:
    return max(1, -(-n // tenants_per_host))


def docker_host(index: int) -> Doc:
    """A Docker host with room to spare: 200 tenants at their plan's max fit with its overcommit."""
    return {
        "type": "docker",
        "host": f"ssh://ops@{host_name(index)}.internal",
        "capacity": {"cpus": 256, "memory_gib": 4096, "networks": 4096, "storage_gib": 10_000_000},
        "overcommit": {"cpu": 16.0, "memory": 2.0},
        "address_pools": ["172.30.0.0/16"],
    }


def generate_fleet(
    n: int,
    seed: int = 0,
    *,
    tenants_per_host: int = TENANTS_PER_HOST,
    hosts_per_shard: int = 5,
    domain: str = "tenants.example.com",
) -> Doc:
    """A valid fleet of ``n`` tenants as plain data (what the loader parses tenants.yaml into)."""
    rng = random.Random(seed)
    targets = {host_name(h): docker_host(h) for h in range(hosts_for(n, tenants_per_host))}
    tenants = []
    for i in range(n):
        h = i // tenants_per_host
        plan = rng.choices(PLANS, PLAN_WEIGHTS)[0]
        tenant: Doc = {
            "id": tenant_id(i),
            "plan": plan,
            "target": host_name(h),
            "shard": shard_name(h // hosts_per_shard),
            "model_provider": rng.choice(PROVIDERS),
        }
        state = rng.choices(TENANT_STATES, STATE_WEIGHTS)[0]
        if state != DEFAULT_STATE:
            tenant["state"] = state
        if rng.random() < 0.2:
            tenant["channel"] = "canary"
        if rng.random() < 0.5:
            tenant["labels"] = {"billing-account": str(10_000 + i), "region": rng.choice(("eu", "us", "apac"))}
        if rng.random() < 0.1:
            tenant["overrides"] = dict(rng.choice(OVERRIDES[plan]))
        if rng.random() < 0.05:
            tenant["rotation"] = rng.randint(1, 3)
        tenants.append(tenant)
    return {
        "version": 1,
        "domain": domain,
        "channels": {"stable": "2026.9.6", "canary": "2026.9.6"},
        "defaults": {"plan": "basic", "channel": "stable", "model_provider": "kimi"},
        "plans": {"starter": copy.deepcopy(STARTER_PLAN)},
        "targets": targets,
        "tenants": tenants,
    }


def generate_fleet_yaml(n: int, seed: int = 0, **options: Any) -> str:
    """``generate_fleet(n, seed, **options)`` as tenants.yaml text."""
    return fleet_yaml(generate_fleet(n, seed, **options))


KUBERNETES_CLUSTER: Doc = {
    "type": "kubernetes",
    "context": "bench",
    "capacity": {"cpus": 1_000_000, "memory_gib": 10_000_000, "storage_gib": 100_000_000},
}


def uniform_fleet(n: int, backend: Backend, *, tenants_per_host: int = TENANTS_PER_HOST) -> Doc:
    """``n`` active tenants, the built-in plans in turn: on Docker hosts of ``tenants_per_host`` tenants,
    each host its own shard, or all on one cluster in shard ``default``."""
    if backend == "docker":
        targets = {host_name(h): docker_host(h) for h in range(hosts_for(n, tenants_per_host))}
    else:
        targets = {"cluster": KUBERNETES_CLUSTER}
    tenants = []
    for i in range(n):
        target = host_name(i // tenants_per_host) if backend == "docker" else "cluster"
        shard = target if backend == "docker" else "default"
        tenants.append({"id": tenant_id(i), "plan": BUILT_IN_PLANS[i % 3], "target": target, "shard": shard})
    return {
        "version": 1,
        "domain": "tenants.example.com",
        "defaults": {"model_provider": "kimi"},
        "targets": copy.deepcopy(targets),
        "tenants": tenants,
    }


# --- writing YAML -------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[a-z][a-z0-9-]*$")
_KEYWORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "nan", "inf"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value if _PLAIN.match(value) and value not in _KEYWORDS else json.dumps(value)
    raise TypeError(f"cannot write {value!r}")


def _emit(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                _emit(item, indent + 2, lines)
            else:
                lines.append(f"{pad}{key}: {_flow(item)}")
    else:
        for item in value:
            if isinstance(item, dict) and item:
                sub: list[str] = []
                _emit(item, indent + 2, sub)
                sub[0] = f"{pad}- {sub[0][indent + 2 :]}"
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {_flow(item)}")


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def fleet_yaml(doc: Doc) -> str:
    """Block-style YAML for a fleet document (flow style only for empty mappings and lists)."""
    lines = ["# generated by harness/fleets.py"]
    _emit(doc, 0, lines)
    return "\n".join(lines) + "\n"


# --- editing a fleet ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """Which tenants each edit of ``mutate_fleet`` touched (sorted ids; the sets are disjoint)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()  # offboarded tenants whose lines were removed: destructive (data forgotten)
    removed_live: tuple[str, ...] = ()  # active or suspended tenants removed: destructive
    suspended: tuple[str, ...] = ()
    resumed: tuple[str, ...] = ()
    offboarded: tuple[str, ...] = ()
    upgraded: tuple[str, ...] = ()  # basic -> pro, storage grows
    recanaried: tuple[str, ...] = ()  # channel switched between stable and canary (same version)
    relabeled: tuple[str, ...] = ()
    shrunk: tuple[str, ...] = ()  # overrides.storage_gib below the plan's: destructive
    moved: tuple[str, ...] = ()  # to a host of another shard: target and shard change, destructive

    def count(self) -> dict[str, int]:
        return {f.name: len(getattr(self, f.name)) for f in fields(self)}


def _state(tenant: Doc) -> str:
    return str(tenant.get("state", DEFAULT_STATE))


def mutate_fleet(
    doc: Doc,
    seed: int = 1,
    *,
    add: int = 0,
    remove: int = 0,
    remove_live: int = 0,
    suspend: int = 0,
    resume: int = 0,
    offboard: int = 0,
    upgrade: int = 0,
    recanary: int = 0,
    relabel: int = 0,
    shrink: int = 0,
    move: int = 0,
) -> tuple[Doc, Mutation]:
    """An edited copy of ``doc`` and what was edited; each tenant is edited at most once.

    Raises ValueError when the fleet has too few tenants fitting an edit.
    """
    rng = random.Random(seed)
    new = copy.deepcopy(doc)
    tenants: list[Doc] = new["tenants"]
    order = list(range(len(tenants)))
    rng.shuffle(order)
    used: set[int] = set()

    def pick(count: int, what: str, fits: Callable[[Doc], bool]) -> list[Doc]:
        chosen = [i for i in order if i not in used and fits(tenants[i])][:count]
        if len(chosen) < count:
            raise ValueError(f"only {len(chosen)} tenants fit {what!r}, {count} asked for")
        used.update(chosen)
        return [tenants[i] for i in chosen]

    def no_overrides(plan: str) -> Callable[[Doc], bool]:
        return lambda t: t["plan"] == plan and "overrides" not in t

    removed = pick(remove, "remove", lambda t: _state(t) == "offboarded")
    removed_live = pick(remove_live, "remove_live", lambda t: _state(t) != "offboarded")
    suspended = pick(suspend, "suspend", lambda t: _state(t) == "active")
    resumed = pick(resume, "resume", lambda t: _state(t) == "suspended")
    offboarded = pick(offboard, "offboard", lambda t: _state(t) == "active")
    upgraded = pick(upgrade, "upgrade", no_overrides("basic"))
    recanaried = pick(recanary, "recanary", lambda t: True)
    relabeled = pick(relabel, "relabel", lambda t: True)
    shrunk = pick(shrink, "shrink", no_overrides("pro"))
    shards = {t["shard"] for t in tenants}
    moved = pick(move, "move", lambda t: len(shards) > 1)

    for t in suspended:
        t["state"] = "suspended"
    for t in resumed:
        t.pop("state")
    for t in offboarded:
        t["state"] = "offboarded"
    for t in upgraded:
        t["plan"] = "pro"
    for t in recanaried:
        if t.pop("channel", "stable") == "stable":
            t["channel"] = "canary"
    for t in relabeled:
        t["labels"] = {**t.get("labels", {}), "reviewed": "yes"}
    for t in shrunk:
        t["overrides"] = {"storage_gib": PLAN_STORAGE["pro"] - 10}
    host_of_shard = {t["shard"]: t["target"] for t in tenants}
    for t in moved:
        other = sorted(s for s in host_of_shard if s != t["shard"])[0]
        t["shard"], t["target"] = other, host_of_shard[other]

    gone = {id(t) for t in (*removed, *removed_live)}
    new["tenants"] = [t for t in tenants if id(t) not in gone]
    added = []
    for i in range(add):
        host = rng.choice(sorted(host_of_shard.items()))
        tenant = {"id": f"new-{seed}-{i:05d}", "plan": rng.choice(PLANS), "target": host[1], "shard": host[0]}
        new["tenants"].append(tenant)
        added.append(tenant)

    def ids(group: list[Doc]) -> tuple[str, ...]:
        return tuple(sorted(t["id"] for t in group))

    return new, Mutation(
        added=ids(added),
        removed=ids(removed),
        removed_live=ids(removed_live),
        suspended=ids(suspended),
        resumed=ids(resumed),
        offboarded=ids(offboarded),
        upgraded=ids(upgraded),
        recanaried=ids(recanaried),
        relabeled=ids(relabeled),
        shrunk=ids(shrunk),
        moved=ids(moved),
    )


def local_fleet(
    target: str,
    tenants: list[Doc],
    edge: Doc,
    *,
    domain: str = "localhost",
    plans: Doc | None = None,
    backups: Doc | None = None,
    **target_settings: Any,
) -> str:
    """A small fleet on the local engine with the local images (tests/e2e/images/build.sh): one target
    whose model gateway reaches only the fake upstream, tenants reaching nothing but their model
    gateway unless ``target_settings`` says otherwise. Each real-engine test gives its own ``edge``
    (port and subnet) so stacks can run side by side on one daemon."""
    doc: Doc = {
        "version": 1,
        "domain": domain,
        "images": {
            "openclaw": "openclaw-local/openclaw",
            "proxy": "openclaw-local/nginx:1.22.1",
            "model_gateway": "openclaw-local/model-gateway:1.83.10-1",
        },
        "defaults": {"target": target, "model_provider": "minimax"},
        **({"plans": plans} if plans else {}),
        **({"backups": backups} if backups else {}),
        "targets": {
            target: {
                "type": "docker",
                "egress": "models",
                "model_gateway": {"egress": "none", "upstreams": {"minimax": "http://fake-upstream:8080"}},
                "edge": {"address": "127.0.0.1", **edge},
                "address_pools": ["172.30.0.0/16"],
                "capacity": {"cpus": 2, "memory_gib": 24, "networks": 30, "storage_gib": 1000},
                "overcommit": {"cpu": 4},
                "storage": {"root": TEST_DISK_ROOT},
                **target_settings,
            }
        },
        "tenants": tenants,
    }
    return fleet_yaml(doc)
