"""Addresses no tenant may reach, whatever its egress mode: one list for every backend.

A tenant's users run arbitrary commands in its gateway. Cloud metadata hands out instance
credentials, private and carrier-grade NAT ranges hold the provider's and the operator's own
services, and loopback, link-local and unique-local addresses reach the host itself. The Docker
egress filter drops them and Kubernetes validation refuses a policy that allows them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TypeAlias

IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ForbiddenRange:
    cidr: str
    why: str

    @property
    def network(self) -> IpNetwork:
        return ipaddress.ip_network(self.cidr)


FORBIDDEN_RANGES: tuple[ForbiddenRange, ...] = (
    ForbiddenRange("0.0.0.0/8", "'this network' (0.0.0.0 reaches the host)"),
    ForbiddenRange("10.0.0.0/8", "private (RFC 1918)"),
    ForbiddenRange("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
    ForbiddenRange("127.0.0.0/8", "loopback"),
    ForbiddenRange("169.254.0.0/16", "link-local, cloud metadata at 169.254.169.254"),
    ForbiddenRange("172.16.0.0/12", "private (RFC 1918)"),
    ForbiddenRange("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ForbiddenRange("192.168.0.0/16", "private (RFC 1918)"),
    ForbiddenRange("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ForbiddenRange("224.0.0.0/4", "multicast"),
    ForbiddenRange("240.0.0.0/4", "reserved, broadcast"),
    ForbiddenRange("::/127", "unspecified and loopback"),
    ForbiddenRange("::ffff:0:0/96", "IPv4-mapped (reaches the IPv4 ranges above)"),
    ForbiddenRange("64:ff9b::/96", "NAT64 (reaches the IPv4 ranges above)"),
    ForbiddenRange("fc00::/7", "unique local"),
    ForbiddenRange("fe80::/10", "link-local"),
    ForbiddenRange("fd00:ec2::254/128", "cloud metadata (AWS IPv6)"),
    ForbiddenRange("ff00::/8", "multicast"),
)

# Metadata addresses answer on some clouds from inside the ranges above; named so messages say so.
METADATA_ADDRESSES: tuple[str, ...] = ("169.254.169.254", "169.254.170.2", "fd00:ec2::254")


def forbidden_networks(version: int) -> tuple[IpNetwork, ...]:
    """The forbidden ranges of one IP version, collapsed (nested ranges merged)."""
    nets = [r.network for r in FORBIDDEN_RANGES if r.network.version == version]
    return tuple(ipaddress.collapse_addresses(nets))  # type: ignore[type-var]


def uncovered_forbidden(
    allowed: IpNetwork, excluded: tuple[IpNetwork, ...], extra: tuple[ForbiddenRange, ...] = ()
) -> list[ForbiddenRange]:
    """The forbidden ranges (and ``extra``, e.g. a cluster's node ranges) that ``allowed`` reaches
    at least in part once ``excluded`` is carved out of it."""
    found: list[ForbiddenRange] = []
    for bad in (*FORBIDDEN_RANGES, *extra):
        net = bad.network
        if net.version != allowed.version or not net.overlaps(allowed):
            continue
        # The part of the forbidden range inside the allowed one must be covered by exclusions.
        inside = net if net.subnet_of(allowed) else allowed  # type: ignore[arg-type]
        if not _covered(inside, tuple(e for e in excluded if e.version == net.version)):
            found.append(bad)
    return found


def _covered(net: IpNetwork, by: tuple[IpNetwork, ...]) -> bool:
    """Whether the union of ``by`` contains all of ``net``."""
    pending = [net]
    while pending:
        part = pending.pop()
        if any(part.subnet_of(e) for e in by):  # type: ignore[arg-type]
            continue
        if not any(part.overlaps(e) for e in by) or part.prefixlen == part.max_prefixlen:
            return False
        pending.extend(part.subnets(prefixlen_diff=1))
    return True
