"""The openclaw-tenants program: tenants.yaml → one TenantStack per tenant of this stack's shard."""

import pulumi

from components import (
    DockerBackend,
    DockerHost,
    DockerHostArgs,
    EdgeProxy,
    EdgeProxyArgs,
    KubernetesBackend,
    KubernetesCluster,
    KubernetesClusterArgs,
    TenantStack,
    TenantStackArgs,
)
from components.settings import dns_zone_id, kubeconfig, provider_key, read_settings
from tenants.docker_specs import edge_spec, network_name, target_images, tenant_spec
from tenants.errors import FleetError
from tenants.k8s_specs import tenant_manifests
from tenants.load import load_fleet
from tenants.model import DockerTarget, KubernetesTarget
from tenants.stack import apply_overrides, select_shard, tenant_info

config = pulumi.Config("openclaw-tenants")
settings = read_settings(config)
try:
    fleet = apply_overrides(load_fleet(settings.tenants_file), settings)
    tenants = select_shard(fleet, settings.shard)
except (FleetError, ValueError) as exc:
    raise pulumi.RunError(str(exc)) from None

used = sorted({t.target for t in tenants})
docker_targets = {n: t for n in used if isinstance(t := fleet.targets[n], DockerTarget)}
k8s_targets = {n: t for n in used if isinstance(t := fleet.targets[n], KubernetesTarget)}

# Platform: per target, its explicit provider (and, on Docker hosts, the images and the edge proxy).
hosts = {
    name: DockerHost(name, DockerHostArgs(host=target.host, images=target_images(fleet, name, tenants)))
    for name, target in docker_targets.items()
}
clusters = {
    name: KubernetesCluster(name, KubernetesClusterArgs(kubeconfig=kubeconfig(config, target), context=target.context))
    for name, target in k8s_targets.items()
}

stacks: dict[str, TenantStack] = {}
for tenant in tenants:
    target = fleet.targets[tenant.target]
    backend: DockerBackend | KubernetesBackend
    if isinstance(target, DockerTarget):
        spec = tenant_spec(fleet, tenant)
        image = hosts[tenant.target].images[spec.container.image] if spec.container else ""
        backend = DockerBackend(spec=spec, docker_host=target.host, image=image)
        provider = hosts[tenant.target].provider
    else:
        backend = KubernetesBackend(manifests=tenant_manifests(fleet, tenant))
        provider = clusters[tenant.target].provider
    stacks[tenant.id] = TenantStack(
        tenant.id,
        TenantStackArgs(
            info=tenant_info(fleet, tenant),
            backend=backend,
            rotation=tenant.rotation,
            dns=target.dns,
            dns_zone_id=dns_zone_id(config, target.dns),
            provider_key=provider_key(config, tenant),
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )

for name, target in docker_targets.items():
    edge = edge_spec(fleet, name, tenants)
    EdgeProxy(
        f"edge-{name}",
        EdgeProxyArgs(
            spec=edge,
            docker_host=target.host,
            image=hosts[name].images[edge.container.image],
            tenant_networks={network_name(r.tenant_id): stacks[r.tenant_id].network for r in edge.routes},
        ),
        opts=pulumi.ResourceOptions(providers=[hosts[name].provider]),
    )

pulumi.export(
    "tenants",
    {t.id: {"endpoint": fleet.url(t), "state": t.state, "plan": t.plan, "shard": t.shard} for t in tenants},
)
pulumi.export("tenantTokens", pulumi.Output.secret({tid: s.gateway_token for tid, s in stacks.items()}))
