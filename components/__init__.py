"""Pulumi components: translate the pure specs of ``tenants`` into resources, and nothing else."""

from .docker_host import DockerHost, DockerHostArgs
from .edge_proxy import EdgeProxy, EdgeProxyArgs
from .tenant_stack import TenantStack, TenantStackArgs

__all__ = ["DockerHost", "DockerHostArgs", "EdgeProxy", "EdgeProxyArgs", "TenantStack", "TenantStackArgs"]
