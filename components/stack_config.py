"""The stack's Pulumi config (the typed `config:` block of Pulumi.yaml), read in one place."""

from __future__ import annotations

import pulumi

from tenants.model import Dns, KubernetesTarget, ModelProvider, Tenant
from tenants.stack_overrides import StackOverrides


def read_overrides(config: pulumi.Config) -> StackOverrides:
    # Pulumi.yaml declares a default for every key, so `get` only returns None outside the CLI.
    port = config.get_int("edgePort")
    return StackOverrides(
        tenants_file=config.require("tenantsFile"),
        shard=config.get("shard") or "",
        domain=config.get("domain") or None,
        edge_address=config.get("edgeAddress") or None,
        edge_port=port if port else None,
        openclaw_image=config.get("openclawImage") or None,
        proxy_image=config.get("proxyImage") or None,
    )


def provider_key_name(provider: ModelProvider) -> str:
    return f"{provider}ApiKey"


def tenant_key_name(tenant_id: str) -> str:
    return f"apiKey-{tenant_id}"


def provider_key(config: pulumi.Config, tenant: Tenant) -> pulumi.Output[str] | None:
    """The tenant's own key if set, else the fleet key for its provider; always a secret."""
    own = config.get_secret(tenant_key_name(tenant.id))
    if own is not None:
        return own
    return config.get_secret(provider_key_name(tenant.model_provider))


def kubeconfig(config: pulumi.Config, target: KubernetesTarget) -> pulumi.Output[str] | None:
    """The cluster's kubeconfig from a secret config key; None when the target names a context."""
    if target.kubeconfig_secret is None:
        return None
    return config.require_secret(target.kubeconfig_secret)


def dns_zone_id(config: pulumi.Config, dns: Dns) -> pulumi.Output[str] | None:
    return config.require_secret(dns.zone_id_config) if dns.mode == "cloudflare" else None
