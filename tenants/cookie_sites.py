"""Which tenants a browser treats as one site, by the Public Suffix List.

A page may set a cookie for any parent domain of its host short of a public suffix, and the browser
sends it to every host under that parent. SameSite compares sites (registrable domains: a public
suffix plus one label), so tenants whose hosts share a site are same-site to each other: one tenant's
pages can plant cookies in every other tenant's (session fixation, forged CSRF tokens), and SameSite
does not stop it. A tenant's host is a site of its own under a domain that is itself a public suffix
(on the list, as github.io is; the operator declares one the copy shipped here does not list yet in
`public_suffixes`), or when it is a domain of the tenant's own (`domain` on the tenant).

The list is the one the `publicsuffixlist` package ships; nothing is fetched. Hosts here are ASCII
(internationalised names in their xn-- form), as the fleet's own checks require.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import cache

import publicsuffixlist
from publicsuffixlist import PublicSuffixList

from .model import Fleet, Target, Tenant, public_host

LIST_VERSION = publicsuffixlist.__version__


@cache
def _list() -> PublicSuffixList:
    return PublicSuffixList()


def listed(name: str) -> bool:
    """Whether the shipped list makes ``name`` a public suffix (an unknown top-level label counts, as the
    list's implicit `*` rule says, so every `<id>.localhost` is a site of its own)."""
    return _list().is_public(name)


def public_suffix(host: str, declared: Iterable[str] = ()) -> str:
    """The longest public suffix of ``host``: the list's, or a longer one the operator declared."""
    found = _list().publicsuffix(host)
    suffixes = [found if isinstance(found, str) else host]
    suffixes += [d for d in declared if host == d or host.endswith(f".{d}")]
    return max(suffixes, key=len)


def site(host: str, declared: Iterable[str] = ()) -> str | None:
    """``host``'s registrable domain (its public suffix and one more label); None when ``host`` is a
    public suffix itself."""
    suffix = public_suffix(host, declared)
    if host == suffix:
        return None
    return f"{host[: -len(suffix) - 1].rsplit('.', 1)[-1]}.{suffix}"


def _common_parent(hosts: Sequence[str]) -> str:
    labels = [h.split(".")[::-1] for h in hosts]
    common: list[str] = []
    for parts in zip(*labels, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return ".".join(common[::-1])


def served_hosts(fleet: Fleet) -> dict[str, str]:
    """Tenant id → host of every tenant that is or will again be served (active or suspended)."""
    return {t.id: fleet.host(t) for t in fleet.tenants if t.live}


def shared_sites(fleet: Fleet) -> dict[str, list[str]]:
    """Site → the ids of the served tenants on it, for every site that holds more than one."""
    by_site: dict[str, list[str]] = defaultdict(list)
    for tenant_id, host in served_hosts(fleet).items():
        found = site(host, fleet.public_suffixes)
        if found is not None:
            by_site[found].append(tenant_id)
    return {name: ids for name, ids in by_site.items() if len(ids) > 1}


def _shown(ids: Sequence[str]) -> str:
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def cookie_warnings(fleet: Fleet) -> list[str]:
    """One line per site that several tenants share, and per declared suffix the shipped list lacks."""
    hosts = served_hosts(fleet)
    warnings = []
    for name, ids in sorted(shared_sites(fleet).items()):
        parent = _common_parent([hosts[i] for i in ids])
        warnings.append(
            f"tenants {_shown(ids)} share the site {name}: a cookie one of them sets for .{name} reaches every "
            f"other, and SameSite does not tell them apart. Put {parent} on the Public Suffix List and list it "
            "in public_suffixes, or give each tenant a domain of its own (tenant key domain)"
        )
    for suffix in fleet.public_suffixes:
        under = [i for i, h in hosts.items() if h.endswith(f".{suffix}")]
        if len(under) > 1 and not listed(suffix):
            warnings.append(
                f"public_suffixes: {suffix} is not on the Public Suffix List shipped here (publicsuffixlist "
                f"{LIST_VERSION}); browsers keep sending one tenant's cookies to the others ({_shown(under)}) "
                "until the list they ship includes it"
            )
    return warnings


def domain_problems(
    fleet_domain: str, public_suffixes: Sequence[str], targets: Mapping[str, Target], tenants: Sequence[Tenant]
) -> list[tuple[int, str]]:
    """(position in ``tenants``, message) for each tenant ``domain`` that cannot serve it alone."""
    hosts = {
        i: public_host(t.id, fleet_domain, targets[t.target], own_domain=t.domain)
        for i, t in enumerate(tenants)
        if t.target in targets
    }
    holders: dict[str, list[int]] = defaultdict(list)
    for i, host in hosts.items():
        holders[host].append(i)
    problems: list[tuple[int, str]] = []
    for i, tenant in enumerate(tenants):
        if tenant.domain is None or i not in hosts:
            continue
        others = [tenants[j].id for j in holders[hosts[i]] if j != i]
        if others:
            problems.append((i, f"{tenant.domain} is also the host of tenant {others[0]!r}; each host routes to one"))
        if site(tenant.domain, public_suffixes) is None:
            problems.append(
                (
                    i,
                    f"{tenant.domain} is a public suffix, which no one site owns: use a domain the customer or "
                    "you registered, or a name under one (like claw.acme.com)",
                )
            )
        if targets[tenant.target].dns.mode == "cloudflare":
            problems.append(
                (
                    i,
                    f"target {tenant.target!r} has dns mode cloudflare, which writes every tenant's record into "
                    f"its one zone, and {tenant.domain} lives in a zone of its own: run this tenant on a target "
                    "with dns mode none (its record kept in its own zone), or leave it on <id>.<domain>",
                )
            )
    return problems
