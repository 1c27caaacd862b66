"""Docker specs → pulumi-docker resources: networks, volumes, containers and their pids limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pulumi
import pulumi_docker as docker

from tenants import docker_forms
from tenants.docker_specs import ContainerSpec, NetworkSpec, VolumeSpec

from .docker_ops import DockerDaemon, NetworkLink, PidsLimit, RunningContainer

# Settings the provider neither updates nor replaces on its own: a change must recreate the container.
RECREATE_ON = ["healthcheck", "tmpfs", "init", "cpuQuota", "cpuPeriod"]

LabelT = TypeVar("LabelT", docker.ContainerLabelArgs, docker.NetworkLabelArgs, docker.VolumeLabelArgs)


def labels(kind: type[LabelT], mapping: Mapping[str, str]) -> list[LabelT]:
    """Docker label args of any resource kind, in a stable order (no spurious diffs)."""
    return [kind(label=k, value=v) for k, v in sorted(mapping.items())]


def network(logical_name: str, spec: NetworkSpec, opts: pulumi.ResourceOptions) -> docker.Network:
    """A fixed-name network: a replacement (egress changed) must delete the old one first."""
    return docker.Network(
        logical_name,
        name=spec.name,
        driver="bridge",
        internal=spec.internal,
        options=dict(spec.options),
        ipam_configs=[docker.NetworkIpamConfigArgs(subnet=spec.subnet)] if spec.subnet else None,
        labels=labels(docker.NetworkLabelArgs, spec.labels),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )


def volume(logical_name: str, spec: VolumeSpec, opts: pulumi.ResourceOptions) -> docker.Volume:
    """Data is never deleted by editing tenants.yaml; purging a volume is a separate, explicit act."""
    return docker.Volume(
        logical_name,
        name=spec.name,
        # Only a disk's bind names its driver: an existing plain volume keeps the inputs it was created with.
        driver="local" if spec.driver_opts else None,
        driver_opts=dict(spec.driver_opts) or None,
        labels=labels(docker.VolumeLabelArgs, spec.labels),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )


def _envs(spec: ContainerSpec, secrets: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[list[str]]:
    plain = [f"{k}={v}" for k, v in sorted(spec.env.items())]
    wired = {var: pulumi.Output.secret(secrets[ref]) for var, ref in sorted(spec.secret_env.items()) if ref in secrets}
    if not wired:
        return pulumi.Output.from_input(plain)
    names = list(wired)
    return pulumi.Output.all(*wired.values()).apply(
        # An empty secret (Pulumi.yaml's default for provider keys) means "not configured".
        lambda values: plain + [f"{n}={v}" for n, v in zip(names, values, strict=True) if v]
    )


def container(
    logical_name: str,
    spec: ContainerSpec,
    *,
    image: pulumi.Input[str],
    secrets: Mapping[str, pulumi.Input[str]],
    networks: Sequence[pulumi.Input[str]],
    volumes: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> docker.Container:
    """Create the container.

    ``image``, ``networks`` (in ``spec.networks`` order) and ``volumes`` (volume name → output) are
    the outputs of the resources that provide them, so the engine creates those first.
    """
    hc = spec.healthcheck
    return docker.Container(
        logical_name,
        name=spec.name,
        image=image,
        command=list(spec.command),
        entrypoints=list(spec.entrypoint) if spec.entrypoint is not None else None,
        working_dir=spec.working_dir,
        user=spec.user,
        envs=_envs(spec, secrets),
        cpu_period=docker_forms.CPU_PERIOD_US,
        cpu_quota=docker_forms.cpu_quota(spec.cpus),
        memory=spec.memory_mib,
        memory_swap=spec.memory_mib,
        capabilities=docker.ContainerCapabilitiesArgs(drops=list(spec.cap_drop), adds=list(spec.cap_add) or None),
        network_mode=spec.network_mode,
        dns=list(spec.dns) or None,
        runtime=spec.runtime,
        security_opts=list(spec.security_opts),
        init=spec.init,
        read_only=spec.read_only,
        tmpfs=dict(spec.tmpfs),
        restart=spec.restart,
        log_driver=spec.log_driver,
        log_opts=dict(spec.log_opts),
        labels=labels(docker.ContainerLabelArgs, spec.labels),
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(name=n, ipv4_address=spec.addresses.get(named))
            for named, n in zip(spec.networks, networks, strict=True)
        ],
        volumes=[
            *(docker.ContainerVolumeArgs(volume_name=volumes[m.volume], container_path=m.path) for m in spec.mounts),
            *(
                docker.ContainerVolumeArgs(host_path=b.host_path, container_path=b.path, read_only=b.read_only or None)
                for b in spec.binds
            ),
        ],
        pid_mode=spec.pid_mode,
        device_cgroup_rules=list(spec.device_cgroup_rules) or None,
        uploads=[
            docker.ContainerUploadArgs(
                file=u.path,
                content=u.content,
                # Root-owned files need no owner: naming one makes the daemon resolve the container's
                # user in its passwd, which fails for a numeric user like 65534:65534 (Docker 20.10).
                owner=str(u.owner) if u.owner else None,
                group=str(u.group) if u.group else None,
                permissions=u.mode,
            )
            for u in spec.uploads
        ],
        ports=[docker.ContainerPortArgs(internal=p.internal, external=p.external, ip=p.ip) for p in spec.ports],
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=list(hc.test),
            interval=docker_forms.duration(hc.interval_s),
            timeout=docker_forms.duration(hc.timeout_s),
            retries=hc.retries,
            start_period=docker_forms.duration(hc.start_period_s),
            start_interval=docker_forms.duration(hc.start_interval_s),
        )
        if hc is not None
        else None,
        hostname=spec.hostname,
        destroy_grace_seconds=spec.stop_grace_s,
        # The name is fixed, so the old container must go before its replacement can exist.
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(delete_before_replace=True, replace_on_changes=RECREATE_ON)
        ),
    )


def pids_limit(
    logical_name: str,
    spec: ContainerSpec,
    created: docker.Container,
    docker_host: DockerDaemon,
    opts: pulumi.ResourceOptions,
) -> PidsLimit:
    """Apply ``spec.pids_limit`` to the running container, again after each recreation."""
    return PidsLimit(logical_name, on=running(created, docker_host), limit=spec.pids_limit, opts=opts)


def running(created: docker.Container, docker_host: DockerDaemon) -> RunningContainer:
    return RunningContainer(host=docker_host.host, name=created.name, id=created.id, tls=docker_host.tls)


@dataclass(frozen=True)
class PlatformContainer:
    """A target's shared container (edge proxy, model gateway), running, and attached to tenant networks."""

    on: RunningContainer
    links: list[NetworkLink]


def platform_container(
    name: str,
    role: str,
    network_spec: NetworkSpec,
    spec: ContainerSpec,
    *,
    image: pulumi.Input[str],
    secrets: Mapping[str, pulumi.Input[str]],
    volumes: Mapping[str, pulumi.Input[str]],
    docker_host: DockerDaemon,
    links: Sequence[tuple[str, str]],
    tenant_networks: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> PlatformContainer:
    """``<name>-network``, ``<name>-<role>``, ``<name>-pids-limit`` and one ``<name>-link-<tenant id>`` per
    (tenant id, network) of ``links``: adding or removing a tenant touches only its own link."""
    own = network(f"{name}-network", network_spec, opts)
    created = container(
        f"{name}-{role}", spec, image=image, secrets=secrets, networks=[own.name], volumes=volumes, opts=opts
    )
    pids_limit(f"{name}-pids-limit", spec, created, docker_host, opts)
    on = running(created, docker_host)
    attached = [
        NetworkLink(f"{name}-link-{tenant_id}", on=on, network=tenant_networks[net], opts=opts)
        for tenant_id, net in links
    ]
    return PlatformContainer(on, attached)
