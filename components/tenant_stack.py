"""TenantStack: everything one customer gets, as one component, on either backend."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from tenants.contract import GATEWAY_TOKEN, MODEL_KEY, TENANT_URL
from tenants.docker_specs import TenantDockerSpec
from tenants.k8s_specs import TenantManifests
from tenants.model import Dns
from tenants.tenant_info import TenantInfo

from . import docker_tenant, k8s_tenant
from .dns import tenant_dns
from .docker_ops import DockerDaemon, RunningContainer


@dataclass(frozen=True)
class DockerBackend:
    spec: TenantDockerSpec
    docker_host: DockerDaemon
    image: pulumi.Input[str]
    # The host's egress rules: the gateway container starts only once its bridge is guarded.
    egress_rules: pulumi.Resource | None = None
    storage_agent: RunningContainer | None = None  # makes the tenant's disk (storage mode disk)


@dataclass(frozen=True)
class KubernetesBackend:
    manifests: TenantManifests


@dataclass(frozen=True)
class TenantStackArgs:
    info: TenantInfo
    backend: DockerBackend | KubernetesBackend
    rotation: int
    dns: Dns
    dns_zone_id: pulumi.Input[str] | None = None


class TenantStack(pulumi.ComponentResource):
    """One tenant's gateway and the things it owns. Logical names are ``<tenant id>-<role>``."""

    url: pulumi.Output[str]
    state: pulumi.Output[str]
    plan: pulumi.Output[str]
    shard: pulumi.Output[str]
    gateway_token: pulumi.Output[str]
    model_key: pulumi.Output[str]  # the tenant's virtual key at its target's model gateway
    network: pulumi.Output[str]

    def __init__(self, name: str, args: TenantStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:TenantStack", name, None, opts)
        info = args.info

        # Bumping `rotation` replaces both passwords, which replaces the gateway that uses them.
        def credential(role: str) -> random.RandomPassword:
            return random.RandomPassword(
                f"{info.id}-{role}",
                length=48,
                special=False,
                keepers={"rotation": str(args.rotation)},
                opts=pulumi.ResourceOptions(parent=self),
            )

        token = credential("token")
        # The tenant's only model credential: the gateway knows it by its hash, and it is worth
        # nothing past the gateway.
        model_key = credential("model-key")
        secrets: dict[str, pulumi.Input[str]] = {GATEWAY_TOKEN: token.result, MODEL_KEY: model_key.result}

        backend = args.backend
        if isinstance(backend, DockerBackend):
            self.network = docker_tenant.build(
                backend.spec,
                docker_host=backend.docker_host,
                image=backend.image,
                secrets=secrets,
                parent=self,
                after=[backend.egress_rules] if backend.egress_rules else [],
                storage_agent=backend.storage_agent,
            )
        else:
            k8s_tenant.build(backend.manifests, secrets, parent=self)
            self.network = pulumi.Output.from_input("")
        if info.state != "offboarded":
            tenant_dns(info.id, info.host, args.dns, args.dns_zone_id, parent=self)

        self.url = pulumi.Output.from_input(info.url)
        self.state = pulumi.Output.from_input(info.state)
        self.plan = pulumi.Output.from_input(info.plan)
        self.shard = pulumi.Output.from_input(info.shard)
        self.gateway_token = pulumi.Output.secret(token.result)
        self.model_key = pulumi.Output.secret(model_key.result)
        self.register_outputs(
            {
                TENANT_URL: self.url,
                "state": self.state,
                "plan": self.plan,
                "shard": self.shard,
                "gatewayToken": self.gateway_token,
            }
        )
