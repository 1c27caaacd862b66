"""The openclaw-tenants program: tenants.yaml → one TenantStack per tenant of this stack's shard."""

import pulumi

from components import DockerHost, DockerHostArgs, EdgeProxy, EdgeProxyArgs, TenantStack, TenantStackArgs
from components.settings import provider_key, read_settings
from tenants.docker_specs import edge_spec, network_name, target_images, tenant_spec
from tenants.errors import FleetError
from tenants.load import load_fleet
from tenants.stack import apply_overrides, select_shard

config = pulumi.Config("openclaw-tenants")
settings = read_settings(config)
try:
    fleet = apply_overrides(load_fleet(settings.tenants_file), settings)
    tenants = select_shard(fleet, settings.shard)
except (FleetError, ValueError) as exc:
    raise pulumi.RunError(str(exc)) from None

specs = {t.id: tenant_spec(fleet, t) for t in tenants}
edges = {name: edge_spec(fleet, name, tenants) for name in sorted({t.target for t in tenants})}

# Platform: per Docker target, its provider and the images it runs.
hosts = {
    name: DockerHost(
        name, DockerHostArgs(host=fleet.targets[name].host, images=target_images(fleet, name, tenants))
    )
    for name in edges
}

stacks: dict[str, TenantStack] = {}
for tenant in tenants:
    host, spec = hosts[tenant.target], specs[tenant.id]
    stacks[tenant.id] = TenantStack(
        tenant.id,
        TenantStackArgs(
            spec=spec,
            rotation=tenant.rotation,
            docker_host=fleet.targets[tenant.target].host,
            image=host.images[spec.container.image] if spec.container else "",
            provider_key=provider_key(config, tenant),
        ),
        opts=pulumi.ResourceOptions(providers=[host.provider]),
    )

for name, edge in edges.items():
    EdgeProxy(
        f"edge-{name}",
        EdgeProxyArgs(
            spec=edge,
            docker_host=fleet.targets[name].host,
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
