"""Pulumi components: translate the pure specs of ``tenants`` into resources, and nothing else."""

from .docker_host import DockerHost, DockerHostArgs
from .edge_proxy import EdgeProxy, EdgeProxyArgs
from .k8s_cluster import KubernetesCluster, KubernetesClusterArgs
from .tenant_stack import DockerBackend, KubernetesBackend, TenantStack, TenantStackArgs

__all__ = [
    "DockerBackend",
    "DockerHost",
    "DockerHostArgs",
    "EdgeProxy",
    "EdgeProxyArgs",
    "KubernetesBackend",
    "KubernetesCluster",
    "KubernetesClusterArgs",
    "TenantStack",
    "TenantStackArgs",
]
