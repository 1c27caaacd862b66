"""Pulumi components: translate the pure specs of ``tenants`` into resources, and nothing else."""

from .edge_proxy import EdgeProxy, EdgeProxyArgs
from .tenant_stack import TenantStack, TenantStackArgs

__all__ = ["EdgeProxy", "EdgeProxyArgs", "TenantStack", "TenantStackArgs"]
