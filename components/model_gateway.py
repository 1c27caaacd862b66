"""ModelGateway: a target's one model gateway, the only holder of the providers' master keys.

On a Docker host it is a container on its own network with a retained ledger volume, attached to
each active tenant's network (one link per tenant) and given its key registry in place; on a
cluster it is a platform namespace's manifests. Either way the registry holds each tenant's key
only as a sha256, and the registry is a secret output because it is derived from the keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from tenants.model_gateway_k8s import REGISTRY_KEY, GatewayManifests
from tenants.model_gateway_names import docker_url
from tenants.model_gateway_specs import ModelGatewayDockerSpec, RegistryEntry, registry_document

from . import docker_resources, k8s_tenant
from .docker_ops import ContainerFile, DockerDaemon

# The ledger outlives the gateway's removal: it is what the operator bills from.
K8S_RETAINED = frozenset({"namespace", "ledger"})


def key_sha256(key: pulumi.Input[str]) -> pulumi.Output[str]:
    """The hex sha256 of a virtual key: what the gateway compares a presented key's hash with."""
    return pulumi.Output.secret(pulumi.Output.from_input(key).apply(lambda k: hashlib.sha256(k.encode()).hexdigest()))


@dataclass(frozen=True)
class GatewayKeys:
    """What every model gateway is given: the providers' master keys (secret config, by secret
    reference) and each tenant's virtual key (a secret), for every tenant of its registry."""

    master: Mapping[str, pulumi.Input[str]]
    model: Mapping[str, pulumi.Input[str]]

    def registry(self, entries: tuple[RegistryEntry, ...]) -> pulumi.Output[str]:
        """tenants.json for ``entries``, each with its tenant's key hash; a secret."""
        ids = [e.tenant_id for e in entries]
        hashes = [key_sha256(self.model[tid]) for tid in ids]
        document = pulumi.Output.all(*hashes).apply(
            lambda values: registry_document(entries, dict(zip(ids, values, strict=True)))
        )
        return pulumi.Output.secret(document)


def _tenant_ids(entries: tuple[RegistryEntry, ...]) -> pulumi.Output[list[str]]:
    return pulumi.Output.from_input([e.tenant_id for e in entries])


@dataclass(frozen=True)
class ModelGatewayArgs:
    spec: ModelGatewayDockerSpec
    docker_host: DockerDaemon
    image: pulumi.Input[str]
    keys: GatewayKeys
    # tenant network name → the Network output, so the gateway attaches after each network exists
    tenant_networks: Mapping[str, pulumi.Input[str]]


class ModelGateway(pulumi.ComponentResource):
    """A Docker target's model gateway. Logical names are ``models-<target>-<role>``."""

    url: pulumi.Output[str]
    tenants: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ModelGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:ModelGateway", name, None, opts)
        spec, child = args.spec, pulumi.ResourceOptions(parent=self)
        ledger = docker_resources.volume(f"{name}-ledger", spec.volume, child)
        gateway = docker_resources.platform_container(
            name,
            "gateway",
            spec.network,
            spec.container,
            image=args.image,
            secrets=args.keys.master,
            volumes={spec.volume.name: ledger.name},
            docker_host=args.docker_host,
            links=spec.links,
            tenant_networks=args.tenant_networks,
            opts=child,
        )
        ContainerFile(
            f"{name}-registry",
            on=gateway.on,
            path=spec.registry_path,
            content=args.keys.registry(spec.registry),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=gateway.links)),
        )
        self.url = pulumi.Output.from_input(docker_url(spec.target))
        self.tenants = _tenant_ids(spec.registry)
        self.register_outputs({"url": self.url, "tenants": self.tenants})


@dataclass(frozen=True)
class KubernetesModelGatewayArgs:
    manifests: GatewayManifests
    keys: GatewayKeys


class KubernetesModelGateway(pulumi.ComponentResource):
    """A cluster's model gateway: its manifests as typed resources, ``models-<target>-<role>``."""

    namespace: pulumi.Output[str]
    tenants: pulumi.Output[list[str]]

    def __init__(self, name: str, args: KubernetesModelGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("openclaw:index:KubernetesModelGateway", name, None, opts)
        manifests = args.manifests
        keys = k8s_tenant.string_data(manifests.secret_env, args.keys.master)
        tenants_json: pulumi.Output[Any] = args.keys.registry(manifests.registry).apply(
            lambda text: {REGISTRY_KEY: text}
        )
        k8s_tenant.create_objects(
            name,
            manifests.objects,
            secret_data={"keys": keys, "registry": pulumi.Output.secret(tenants_json)},
            rolling_secret=keys,
            retained=K8S_RETAINED,
            parent=self,
        )
        self.namespace = pulumi.Output.from_input(manifests.namespace)
        self.tenants = _tenant_ids(manifests.registry)
        self.register_outputs({"namespace": self.namespace, "tenants": self.tenants})
