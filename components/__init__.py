"""Pulumi components: translate the pure specs of ``tenants`` into resources, and nothing else."""

from .data_agents import BackupAgent, BackupAgentArgs, StorageAgent, StorageAgentArgs
from .docker_host import DockerHost, DockerHostArgs
from .edge_proxy import EdgeProxy, EdgeProxyArgs
from .egress_filter import EgressFilter, EgressFilterArgs
from .k8s_cluster import KubernetesCluster, KubernetesClusterArgs
from .model_gateway import KubernetesModelGateway, KubernetesModelGatewayArgs, ModelGateway, ModelGatewayArgs
from .tenant_stack import DockerBackend, KubernetesBackend, TenantStack, TenantStackArgs

__all__ = [
    "BackupAgent",
    "BackupAgentArgs",
    "DockerBackend",
    "DockerHost",
    "DockerHostArgs",
    "EdgeProxy",
    "EdgeProxyArgs",
    "EgressFilter",
    "EgressFilterArgs",
    "KubernetesBackend",
    "KubernetesCluster",
    "KubernetesClusterArgs",
    "KubernetesModelGateway",
    "KubernetesModelGatewayArgs",
    "ModelGateway",
    "ModelGatewayArgs",
    "StorageAgent",
    "StorageAgentArgs",
    "TenantStack",
    "TenantStackArgs",
]
