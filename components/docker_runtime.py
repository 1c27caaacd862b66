"""The Docker runtime a tenant's plan asks for, checked against its host's daemon before the gateway exists.

A daemon runs a container only on a runtime registered in its daemon.json; asked for another, it refuses
to create it ("Unknown runtime specified"), by then the engine has deleted the container it replaces.
``RuntimeCheck`` asks the daemon which runtimes it offers when the engine checks its inputs, in `preview`
as in `up`, and the gateway container depends on it, so a missing runtime stops the deployment before
any container is touched, with a message saying how to register one.

Like docker_ops, the provider runs in the engine's dynamic-provider host: only the Docker SDK, the
standard library and docker_ops' client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult
from pulumi.runtime import rpc

from tenants.docker_specs import DEFAULT_RUNTIME, ContainerSpec

from .docker_ops import DockerDaemon, _changed, _client, _renewed

KEYS = ("host", "tenant", "plan", "runtime")
# What scripts/ensure-docker.sh registers: gVisor built at the version pinned in scripts/gvisor/.
GVISOR_ENTRY = '"runsc": {"path": "/usr/local/lib/openclaw-tenants/runsc"}'


def missing_runtime(tenant: str, plan: str, runtime: str, host: str, offered: Iterable[str]) -> str | None:
    """Why ``tenant`` cannot run on ``host``, or None when its daemon offers ``runtime``."""
    offered = sorted(offered)
    if runtime in offered:
        return None
    return (
        f"tenant {tenant!r}: plan {plan!r} runs on Docker runtime {runtime!r} (its target's `runtime`), but "
        f"the daemon at {host} offers only {', '.join(offered) or '(none)'}. Register it in that host's "
        f'/etc/docker/daemon.json under "runtimes" (gVisor: {{"runtimes": {{{GVISOR_ENTRY}}}}}) and reload '
        "the daemon with `kill -HUP $(pidof dockerd)` (running containers keep running); "
        "scripts/ensure-docker.sh builds gVisor's runsc and does both"
    )


def _offered(props: Mapping[str, Any]) -> list[str]:
    with _client(props) as client:
        return sorted(client.info().get("Runtimes") or {})


def problem(props: Mapping[str, Any]) -> str | None:
    """What is wrong with running the tenant's gateway on its plan's runtime, if anything."""
    if any(props.get(k) == rpc.UNKNOWN for k in KEYS):
        return None  # known at `up`, checked then
    try:
        offered = _offered(props)
    except Exception as exc:  # the daemon's own words, whatever the transport raised
        return f"cannot ask the Docker daemon at {props['host']} which runtimes it offers: {exc}"
    return missing_runtime(str(props["tenant"]), str(props["plan"]), str(props["runtime"]), str(props["host"]), offered)


class RuntimeCheckProvider(ResourceProvider):
    """Nothing to create: the check is the point; it runs whenever the engine checks the inputs."""

    serialize_as_secret_always = False

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        found = problem(news)
        return CheckResult(news, [CheckFailure("", found)] if found else [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['tenant']}:{props['runtime']}", outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=bool(_changed(olds, news, KEYS)) or _renewed(olds, news))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=news)


class RuntimeCheck(Resource, module="openclaw", name="RuntimeCheck"):
    """The daemon of ``daemon`` offers ``runtime``, which the tenant's plan asks for."""

    def __init__(
        self, name: str, *, daemon: DockerDaemon, tenant: str, plan: str, runtime: str, opts: pulumi.ResourceOptions
    ) -> None:
        props: dict[str, Any] = {"host": daemon.host, "tenant": tenant, "plan": plan, "runtime": runtime}
        super().__init__(RuntimeCheckProvider(), name, props | (daemon.tls.props() if daemon.tls else {}), opts)


def required(
    name: str, spec: ContainerSpec, *, tenant: str, plan: str, daemon: DockerDaemon, opts: pulumi.ResourceOptions
) -> Sequence[pulumi.Resource]:
    """What the gateway container must wait for: the check of its plan's runtime (none on runc)."""
    if spec.runtime in (None, DEFAULT_RUNTIME):
        return []
    return [RuntimeCheck(name, daemon=daemon, tenant=tenant, plan=plan, runtime=spec.runtime, opts=opts)]
