"""The openclaw-tenants program: tenants.yaml → one TenantStack per tenant of this stack's shard."""

import pulumi

from components import (
    BackupAgent,
    BackupAgentArgs,
    DockerBackend,
    DockerHost,
    DockerHostArgs,
    EdgeProxy,
    EdgeProxyArgs,
    EgressFilter,
    EgressFilterArgs,
    KubernetesBackend,
    KubernetesCluster,
    KubernetesClusterArgs,
    KubernetesModelGateway,
    KubernetesModelGatewayArgs,
    ModelGateway,
    ModelGatewayArgs,
    StorageAgent,
    StorageAgentArgs,
    TenantStack,
    TenantStackArgs,
)
from components.model_gateway import GatewayKeys
from components.stack_config import (
    backup_secrets,
    dns_zone_id,
    docker_tls,
    edge_certificate,
    gateway_secrets,
    kubeconfig,
    read_overrides,
    refuse_tenant_keys,
)
from tenants.contract import OUTPUT_MODEL_KEYS, OUTPUT_TENANTS, OUTPUT_TOKENS, TENANT_URL
from tenants.data_agent_specs import backup_agent_spec, storage_agent_spec
from tenants.docker_specs import edge_spec, target_images, tenant_spec
from tenants.egress_filter_specs import egress_filter_spec
from tenants.errors import FleetError
from tenants.fleet_warnings import fleet_warnings
from tenants.k8s_backup_specs import backup_job
from tenants.k8s_specs import tenant_manifests
from tenants.load import load_fleet
from tenants.model import DockerTarget, KubernetesTarget
from tenants.model_gateway_k8s import gateway_manifests
from tenants.model_gateway_specs import docker_spec as model_gateway_spec
from tenants.resolved import DockerTenant, KubernetesTenant, resolve
from tenants.shards import copy_only_targets, select_shard
from tenants.stack_overrides import apply_overrides
from tenants.tenant_info import tenant_info

config = pulumi.Config("openclaw-tenants")
overrides = read_overrides(config)
try:
    fleet = apply_overrides(load_fleet(overrides.tenants_file), overrides)
    selected = select_shard(fleet, overrides.shard)
except (FleetError, ValueError) as exc:
    raise pulumi.RunError(str(exc)) from None
refuse_tenant_keys(config, selected)
for warning in fleet_warnings(fleet):
    pulumi.log.warn(warning)
tenants = tuple(resolve(fleet, tenant) for tenant in selected)
on_docker = tuple(t for t in tenants if isinstance(t, DockerTenant))
on_k8s = tuple(t for t in tenants if isinstance(t, KubernetesTenant))

used = sorted({t.tenant.target for t in tenants})
docker_targets = {n: t for n in used if isinstance(t := fleet.targets[n], DockerTarget)}
k8s_targets = {n: t for n in used if isinstance(t := fleet.targets[n], KubernetesTarget)}

# Targets that hold nothing but copies a move left keep their disk agent (and nothing else) until they are purged.
copy_targets = {n: fleet.target_as(n, DockerTarget) for n in copy_only_targets(fleet, selected)}

# Each TLS edge's certificate, read (or found missing) before anything is registered.
certificates = {name: edge_certificate(config, name, target) for name, target in docker_targets.items()}
# Platform: per target, its explicit provider (and, on Docker hosts, the images and the edge proxy).
hosts = {
    name: DockerHost(
        name,
        DockerHostArgs(
            host=target.host,
            images=target_images(fleet, name, on_docker) if name in docker_targets else (fleet.images.data_agent,),
            tls=docker_tls(config, name, target),
        ),
    )
    for name, target in {**docker_targets, **copy_targets}.items()
}


def egress_filter(name: str) -> EgressFilter:
    """Each Docker host's egress filter comes first: its rules guard a tenant's bridge before the gateway starts."""
    spec = egress_filter_spec(fleet, name, on_docker)
    args = EgressFilterArgs(spec=spec, docker_host=hosts[name].daemon, image=hosts[name].images[spec.container.image])
    return EgressFilter(f"egress-{name}", args, opts=pulumi.ResourceOptions(providers=[hosts[name].provider]))


filters = {name: egress_filter(name) for name in docker_targets}


def storage_agent(name: str) -> StorageAgent | None:
    """Each Docker host's disk agent: it makes every tenant's disk before the tenant's volume binds it."""
    spec = storage_agent_spec(fleet, name)
    if spec is None:
        return None
    args = StorageAgentArgs(spec=spec, docker_host=hosts[name].daemon, image=hosts[name].images[spec.image])
    return StorageAgent(f"storage-{name}", args, opts=pulumi.ResourceOptions(providers=[hosts[name].provider]))


storage = {name: storage_agent(name) for name in {**docker_targets, **copy_targets}}
repository = backup_secrets(config, fleet.backups) if tenants else {}
clusters = {
    name: KubernetesCluster(name, KubernetesClusterArgs(kubeconfig=kubeconfig(config, target), context=target.context))
    for name, target in k8s_targets.items()
}

stacks: dict[str, TenantStack] = {}
for resolved in tenants:
    tenant = resolved.tenant
    backend: DockerBackend | KubernetesBackend
    provider: pulumi.ProviderResource
    if isinstance(resolved, DockerTenant):
        spec = tenant_spec(resolved)
        host = hosts[tenant.target]
        image = host.images[spec.container.image] if spec.container else ""
        agent = storage[tenant.target]
        backend = DockerBackend(
            spec=spec,
            docker_host=host.daemon,
            image=image,
            egress_rules=filters[tenant.target].rules,
            storage_agent=agent.on if agent else None,
        )
        provider = host.provider
    else:
        backend = KubernetesBackend(manifests=tenant_manifests(resolved, backup_job(fleet)))
        provider = clusters[tenant.target].provider
    dns = resolved.target.dns
    stacks[tenant.id] = TenantStack(
        tenant.id,
        TenantStackArgs(
            info=tenant_info(resolved),
            backend=backend,
            rotation=tenant.rotation,
            dns=dns,
            dns_zone_id=dns_zone_id(config, dns),
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )


def linked(links: tuple[tuple[str, str], ...]) -> dict[str, pulumi.Output[str]]:
    """Network name → the tenant's Network output, for each (tenant id, network name) of ``links``."""
    return {net: stacks[tid].network for tid, net in links}


# Per Docker target its edge proxy and model gateway; the providers' master keys go to the model
# gateways and nowhere else.
keys = GatewayKeys(master=gateway_secrets(config), model={tid: s.model_key for tid, s in stacks.items()})
for name in docker_targets:
    host = hosts[name]
    on_host = pulumi.ResourceOptions(providers=[host.provider])
    edge = edge_spec(fleet, name, on_docker)
    EdgeProxy(
        f"edge-{name}",
        EdgeProxyArgs(
            spec=edge,
            docker_host=host.daemon,
            image=host.images[edge.container.image],
            tenant_networks=linked(edge.links),
            certificate=certificates[name],
        ),
        opts=on_host,
    )
    models = model_gateway_spec(fleet, name, on_docker)
    ModelGateway(
        f"models-{name}",
        ModelGatewayArgs(
            spec=models,
            docker_host=host.daemon,
            image=host.images[models.container.image],
            keys=keys,
            tenant_networks=linked(models.links),
        ),
        opts=on_host,
    )
    backup = backup_agent_spec(fleet, name, on_docker)
    if backup is not None:
        BackupAgent(
            f"backup-{name}",
            BackupAgentArgs(
                spec=backup, docker_host=host.daemon, image=host.images[backup.container.image], secrets=repository
            ),
            opts=on_host,
        )
for name in k8s_targets:
    KubernetesModelGateway(
        f"models-{name}",
        KubernetesModelGatewayArgs(manifests=gateway_manifests(fleet, name, on_k8s), keys=keys),
        opts=pulumi.ResourceOptions(providers=[clusters[name].provider]),
    )

pulumi.export(
    OUTPUT_TENANTS,
    {
        t.id: {TENANT_URL: t.url, "state": t.tenant.state, "plan": t.tenant.plan, "shard": t.tenant.shard}
        for t in tenants
    },
)
pulumi.export(OUTPUT_TOKENS, pulumi.Output.secret({tid: s.gateway_token for tid, s in stacks.items()}))
pulumi.export(OUTPUT_MODEL_KEYS, pulumi.Output.secret(keys.model))
