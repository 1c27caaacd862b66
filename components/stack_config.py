"""The stack's Pulumi config (the typed `config:` block of Pulumi.yaml), read in one place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

import pulumi

from tenants.contract import (
    BACKUP_PASSWORD,
    BACKUP_S3_ACCESS_KEY,
    BACKUP_S3_SECRET_KEY,
    BACKUP_SSH_KEY,
    LEDGER_URL,
    SecretRef,
)
from tenants.model import Backups, Dns, DockerTarget, KubernetesTarget, ModelProvider, Tenant
from tenants.model_gateway_specs import MASTER_KEY
from tenants.stack_overrides import StackOverrides

from .docker_ops import DaemonTls
from .edge_proxy import EdgeCertificate

LEDGER_URL_KEY = "modelLedgerUrl"


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
        model_gateway_image=config.get("modelGatewayImage") or None,
    )


def provider_key_name(provider: ModelProvider) -> str:
    return f"{provider}ApiKey"


def tenant_key_name(tenant_id: str) -> str:
    return f"apiKey-{tenant_id}"


def gateway_secrets(config: pulumi.Config) -> dict[str, pulumi.Output[str]]:
    """What only the model gateways get (secret config; "" when unset): each provider's master key, and
    the operator's ledger URL."""
    keys: dict[str, pulumi.Output[str]] = {}
    for provider in get_args(ModelProvider):
        value = config.get_secret(provider_key_name(provider))
        if value is not None:
            keys[MASTER_KEY[provider]] = value
    ledger = config.get_secret(LEDGER_URL_KEY)
    if ledger is not None:
        keys[LEDGER_URL] = ledger
    return keys


def refuse_tenant_keys(config: pulumi.Config, tenants: Iterable[Tenant]) -> None:
    """A tenant's own provider key would have to live in the tenant or in a per-tenant route of the
    gateway; neither exists, so a stack that still sets one is stopped with what to do instead."""
    stale = [tenant_key_name(t.id) for t in tenants if config.get_secret(tenant_key_name(t.id)) is not None]
    if stale:
        raise pulumi.RunError(
            f"openclaw-tenants:{', openclaw-tenants:'.join(stale)}: per-tenant provider keys are no longer "
            "used; every tenant reaches its models through the target's model gateway with its own virtual "
            "key, and the gateway holds only the fleet keys (kimiApiKey, ...). Remove them with "
            "`pulumi config rm`."
        )


def kubeconfig(config: pulumi.Config, target: KubernetesTarget) -> pulumi.Output[str] | None:
    """The cluster's kubeconfig from a secret config key; None when the target names a context."""
    if target.kubeconfig_secret is None:
        return None
    return config.require_secret(target.kubeconfig_secret)


def dns_zone_id(config: pulumi.Config, dns: Dns) -> pulumi.Output[str] | None:
    return config.require_secret(dns.zone_id_config) if dns.mode == "cloudflare" else None


def docker_tls(config: pulumi.Config, name: str, target: DockerTarget) -> DaemonTls | None:
    """The client certificate of a tcp:// Docker target from its three secret config keys; None for unix://
    and ssh:// targets. Every missing key is named, with the target, before anything is registered."""
    if target.tls is None:
        return None
    files = dict(zip(target.tls.config_keys(), ("ca.pem", "cert.pem", "key.pem"), strict=True))
    missing = [key for key in files if config.get_secret(key) is None]
    if missing:
        how = "; ".join(f"pulumi config set --secret {key} < {files[key]}" for key in missing)
        raise pulumi.RunError(
            f"target {name!r} ({target.host}) needs its Docker client certificate in the secret config "
            f"key{'s' if len(missing) > 1 else ''} openclaw-tenants:{', openclaw-tenants:'.join(missing)}: {how}"
        )
    ca, cert, key = (config.require_secret(key) for key in files)
    return DaemonTls(ca=ca, cert=cert, key=key)


def edge_certificate(config: pulumi.Config, name: str, target: DockerTarget) -> EdgeCertificate | None:
    """The edge's certificate and key from their two secret config keys; None unless its tls mode is
    certificate. Every missing key is named, with the target, before anything is registered."""
    tls = target.edge.tls
    if tls.mode != "certificate":
        return None
    files = dict(zip(tls.config_keys(), ("fullchain.pem", "privkey.pem"), strict=True))
    missing = [key for key in files if config.get_secret(key) is None]
    if missing:
        how = "; ".join(f"pulumi config set --secret {key} < {files[key]}" for key in missing)
        raise pulumi.RunError(
            f"target {name!r}: its edge serves TLS (edge.tls: certificate) and needs the certificate for "
            f"*.<domain> and its key in the secret config key{'s' if len(missing) > 1 else ''} "
            f"openclaw-tenants:{', openclaw-tenants:'.join(missing)}: {how}"
        )
    cert, key = (config.require_secret(key) for key in files)
    return EdgeCertificate(cert=cert, key=key)


def backup_secrets(config: pulumi.Config, backups: Backups | None) -> dict[str, pulumi.Output[str]]:
    """The backup repository's password and credentials from secret config; {} without a repository. Every
    missing key is named before anything is registered: a stack never runs without the key to its backups."""
    if backups is None:
        return {}
    refs: dict[str, SecretRef] = {backups.password: BACKUP_PASSWORD}
    if backups.kind == "sftp":
        refs[backups.ssh_key] = BACKUP_SSH_KEY
    if backups.kind == "s3":
        refs |= {backups.s3_access_key: BACKUP_S3_ACCESS_KEY, backups.s3_secret_key: BACKUP_S3_SECRET_KEY}
    missing = [key for key in refs if not config.get_secret(key)]
    if missing:
        raise pulumi.RunError(
            f"backups ({backups.kind} repository {backups.repository}) need the secret config "
            f"key{'s' if len(missing) > 1 else ''} openclaw-tenants:{', openclaw-tenants:'.join(missing)}: "
            + "; ".join(f"pulumi config set --secret {key} ..." for key in missing)
            + ". Keep the password safe outside the stack as well: without it no snapshot can be read"
        )
    return {ref: config.require_secret(key) for key, ref in refs.items()}
