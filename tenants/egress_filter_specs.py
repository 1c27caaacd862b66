"""The egress filter of one Docker target: a small host-network container that owns the nftables
table of tenants/egress_rules.py on its host.

It runs on the Docker host it guards, so a remote host is filtered by its own kernel, and it is a
container like every other platform piece: created and removed by the program, restarted by the
daemon. The table lives in the host's kernel, not in the container: a daemon restart (which stops
the filter with every tenant) leaves the rules in force, and the filter re-applies its last ruleset
when it starts again. Only removing the filter's ruleset resource deletes the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .docker_specs import ContainerSpec, Healthcheck, Upload, network_name
from .egress_rules import GUARDED, GuardedBridge, baseline, bridge_name, render_ruleset, table_name
from .labels import EGRESS_FILTER_COMPONENT, platform_labels
from .model import DockerTarget, Fleet
from .resolved import DockerTenant

RULES_PATH = "/etc/openclaw-egress/rules.nft"
# Apply the last ruleset written (the baseline until the program writes one), then idle until stopped.
START = f"nft -f {RULES_PATH} && exec sleep infinity"
APPLY = ("nft", "-f", RULES_PATH)


@dataclass(frozen=True)
class EgressFilterSpec:
    target: str
    container: ContainerSpec
    bridges: tuple[GuardedBridge, ...]
    rules: str  # the ruleset for ``bridges``, written to RULES_PATH and applied in place
    remove: tuple[str, ...]  # deletes the target's table: run when the ruleset resource goes
    rules_path: str = RULES_PATH


def filter_name(target_name: str) -> str:
    return f"openclaw-egress-{target_name}"


def guarded_bridges(target_name: str, tenants: Sequence[DockerTenant]) -> tuple[GuardedBridge, ...]:
    """One entry per network of the target that the filter guards (active and suspended tenants)."""
    return tuple(
        GuardedBridge(bridge_name(target_name, network_name(t.id)), t.egress)
        for t in sorted(tenants, key=lambda t: t.id)
        if t.tenant.target == target_name and t.tenant.live and t.egress in GUARDED
    )


def egress_filter_spec(fleet: Fleet, target_name: str, tenants: Sequence[DockerTenant]) -> EgressFilterSpec:
    target = fleet.target_as(target_name, DockerTarget)
    labels = platform_labels(EGRESS_FILTER_COMPONENT, target_name)
    name, table = filter_name(target_name), table_name(target_name)
    container = ContainerSpec(
        name=name,
        image=fleet.images.egress_filter,
        command=("-c", START),
        entrypoint=("/bin/sh",),
        working_dir=None,
        user="0:0",  # nft needs CAP_NET_ADMIN in the host's network namespace: root with that one capability
        env={},
        secret_env={},
        cpus=0.25,
        memory_mib=64,
        pids_limit=32,
        # The ruleset arrives as an upload and is rewritten in place: a writable root.
        read_only=False,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=1m"},
        networks=(),
        mounts=(),
        uploads=(Upload(path=RULES_PATH, content=baseline(target_name), owner=0, group=0, mode="0444"),),
        ports=(),
        healthcheck=Healthcheck(
            test=("CMD", "nft", "list", "table", "inet", table),
            interval_s=30,
            timeout_s=5,
            retries=3,
            start_period_s=5,
            start_interval_s=0,
        ),
        labels=labels,
        stop_grace_s=5,
        network_mode="host",
        cap_add=("CAP_NET_ADMIN",),  # as the daemon reports it: a refresh shows no diff
    )
    bridges = guarded_bridges(target_name, tenants)
    return EgressFilterSpec(
        target=target_name,
        container=container,
        bridges=bridges,
        rules=render_ruleset(target_name, bridges, target.egress),
        remove=("nft", "delete", "table", "inet", table),
    )
