"""The openclaw-tenants program: tenants.yaml → one TenantStack per tenant of this stack's shard."""

import pulumi
import pulumi_docker as docker

from components import EdgeProxy, EdgeProxyArgs, TenantStack, TenantStackArgs
from components.settings import provider_key, read_settings
from tenants.docker_specs import docker_target, edge_spec, network_name, tenant_spec
from tenants.errors import FleetError
from tenants.load import load_fleet
from tenants.model import DockerTarget
from tenants.stack import apply_overrides, select_shard

config = pulumi.Config("openclaw-tenants")
settings = read_settings(config)
try:
    fleet = apply_overrides(load_fleet(settings.tenants_file), settings)
    tenants = select_shard(fleet, settings.shard)
except (FleetError, ValueError) as exc:
    raise pulumi.RunError(str(exc)) from None

providers = {
    name: docker.Provider(f"docker-{name}", host=target.host)
    for name, target in fleet.targets.items()
    if isinstance(target, DockerTarget) and any(t.target == name for t in tenants)
}

stacks: dict[str, TenantStack] = {}
for tenant in tenants:
    stacks[tenant.id] = TenantStack(
        tenant.id,
        TenantStackArgs(
            spec=tenant_spec(fleet, tenant),
            rotation=tenant.rotation,
            docker_host=docker_target(fleet, tenant).host,
            provider_key=provider_key(config, tenant),
        ),
        opts=pulumi.ResourceOptions(providers=[providers[tenant.target]]),
    )

for name, provider in providers.items():
    spec = edge_spec(fleet, name, tenants)
    EdgeProxy(
        f"edge-{name}",
        EdgeProxyArgs(
            spec=spec,
            docker_host=fleet.targets[name].host,
            tenant_networks={network_name(r.tenant_id): stacks[r.tenant_id].network for r in spec.routes},
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )

pulumi.export(
    "tenants",
    {t.id: {"endpoint": fleet.url(t), "state": t.state, "plan": t.plan, "shard": t.shard} for t in tenants},
)
pulumi.export("tenantTokens", pulumi.Output.secret({tid: s.gateway_token for tid, s in stacks.items()}))
