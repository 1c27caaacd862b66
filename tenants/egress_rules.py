"""A Docker host's egress filter as one nftables ruleset, rendered from the host's tenants.

Every guarded tenant network is a bridge named ``oc<target hash>-<network hash>``, so the host's
kernel can tell a target's tenant traffic by the interface it arrives on: a tenant cannot change
that from inside its container. Each target's ruleset is one table of its own (Docker never touches
it, so it survives daemon restarts; two targets on one host keep apart), and replacing it is one
atomic transaction. Its chains run before Docker's at the same hooks; a drop
there is final whatever Docker's chains accept.

- **input**: nothing a tenant sends reaches the host itself (its bridge addresses, sshd, a TCP
  Docker daemon, exporters), except replies to connections the host opened and, for `internet`
  tenants, DNS to the operator's resolver if that is a host address.
- **forward**: traffic within a tenant's own bridge (its edge proxy, its model gateway) passes;
  `none` and `models` tenants get nothing else; `internet` tenants reach public addresses on the
  allowed TCP ports and the named resolver on port 53; every forbidden range and each excluded
  range is dropped. A bridge of the prefix that the ruleset does not list yet gets nothing.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .egress_ranges import forbidden_networks
from .model import DockerEgress, EgressMode

# Ahead of Docker's own filter chains at the same hooks (iptables-nft registers at priority 0).
PRIORITY = -10
# Modes whose networks the filter guards; `direct-unfiltered` bridges keep Docker's own names.
GUARDED: frozenset[EgressMode] = frozenset({"none", "models", "internet"})


def _hash(text: str, length: int) -> str:
    """Lowercase base32 of sha256: 5 bits per character, all valid in an interface name."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode().lower()[:length]


def table_name(target: str) -> str:
    return "openclaw_egress_" + target.replace("-", "_")


def bridge_prefix(target: str) -> str:
    """The filter of ``target`` owns every interface of this prefix on its host."""
    return f"oc{_hash(target, 3)}-"


def bridge_name(target: str, network: str) -> str:
    """A guarded tenant network's Linux bridge: 15 characters (IFNAMSIZ), 45 bits of the network's name."""
    return bridge_prefix(target) + _hash(f"{target}/{network}", 9)


@dataclass(frozen=True)
class GuardedBridge:
    bridge: str
    mode: EgressMode  # one of GUARDED


def _elements(values: Iterable[str]) -> str:
    items = sorted(set(values))
    return f" elements = {{ {', '.join(items)} }}" if items else ""


def _set(name: str, kind: str, values: Iterable[str], interval: bool = False) -> str:
    flags = " flags interval;" if interval else ""
    elements = _elements(values)
    return f"\tset {name} {{ type {kind};{flags}{elements + ';' if elements else ''} }}\n"


def _quoted(name: str) -> str:
    return f'"{name}"'


def blocked(settings: DockerEgress, version: int) -> list[str]:
    """The destinations an `internet` tenant may not reach, of one IP version, merged."""
    nets = [*forbidden_networks(version)]
    nets += [n for n in (ipaddress.ip_network(c) for c in settings.excluded) if n.version == version]
    return [str(n) for n in ipaddress.collapse_addresses(nets)]  # type: ignore[type-var]


def render_ruleset(target: str, bridges: Sequence[GuardedBridge], settings: DockerEgress) -> str:
    """The target's whole table: created empty if absent, deleted and defined again in one transaction."""
    internet = [b.bridge for b in bridges if b.mode == "internet"]
    resolver = ipaddress.ip_address(settings.resolver) if settings.resolver else None
    family = "" if resolver is None else ("ip" if resolver.version == 4 else "ip6")
    dns = [f"\t\t{family} daddr {resolver} {proto} dport 53 accept\n" for proto in ("udp", "tcp")] if resolver else []
    host_dns = [f"\t\tiifname @internet {line[2:]}" for line in dns]
    prefix = _quoted(bridge_prefix(target) + "*")
    table = table_name(target)
    return "".join(
        [
            f"table inet {table}\n",
            f"delete table inet {table}\n",
            f"table inet {table} {{\n",
            _set("same_bridge", "ifname . ifname", (f"{_quoted(b.bridge)} . {_quoted(b.bridge)}" for b in bridges)),
            _set("internet", "ifname", map(_quoted, internet)),
            _set("blocked_v4", "ipv4_addr", blocked(settings, 4), interval=True),
            _set("blocked_v6", "ipv6_addr", blocked(settings, 6), interval=True),
            _set("ports", "inet_service", map(str, settings.ports)),
            "\tchain input {\n",
            f"\t\ttype filter hook input priority {PRIORITY}; policy accept;\n",
            f"\t\tiifname {prefix} ct state established,related accept\n",
            *host_dns,
            f"\t\tiifname {prefix} counter drop\n",
            "\t}\n",
            "\tchain forward {\n",
            f"\t\ttype filter hook forward priority {PRIORITY}; policy accept;\n",
            f"\t\tiifname {prefix} jump from_tenant\n",
            "\t}\n",
            "\tchain from_tenant {\n",
            "\t\tiifname . oifname @same_bridge accept\n",
            "\t\tiifname != @internet counter drop\n",
            *dns,
            "\t\tip daddr @blocked_v4 counter drop\n",
            "\t\tip6 daddr @blocked_v6 counter drop\n",
            "\t\ttcp dport @ports accept\n",
            "\t\tcounter drop\n",
            "\t}\n",
            "}\n",
        ]
    )


def baseline(target: str) -> str:
    """What the filter applies when it starts with no ruleset written yet: every tenant bridge closed."""
    return render_ruleset(target, (), DockerEgress())
