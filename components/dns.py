"""TenantDns: a tenant's host name in DNS, by the target's mode."""

from __future__ import annotations

import ipaddress

import pulumi

from tenants.model import Dns


def record_type(target: str) -> str:
    try:
        return "AAAA" if ipaddress.ip_address(target).version == 6 else "A"
    except ValueError:
        return "CNAME"


def tenant_dns(
    tenant_id: str, host: str, dns: Dns, zone_id: pulumi.Input[str] | None, parent: pulumi.Resource
) -> pulumi.CustomResource | None:
    """`none`: a wildcard record is managed elsewhere. `external-dns`: the Ingress carries the host
    annotation. `cloudflare`: one record per tenant in the zone named by Pulumi config."""
    if dns.mode != "cloudflare":
        return None
    if zone_id is None:
        raise pulumi.RunError(f"dns mode cloudflare needs config key {dns.zone_id_config!r}")
    target = dns.record_target
    assert target is not None  # the fleet model refuses cloudflare mode without a record_target
    import pulumi_cloudflare as cloudflare  # a large package: load it only where records are managed

    return cloudflare.DnsRecord(
        f"{tenant_id}-dns",
        zone_id=zone_id,
        name=host,
        type=record_type(target),
        content=target,
        proxied=dns.proxied,
        ttl=1,  # automatic
        opts=pulumi.ResourceOptions(parent=parent),
    )
