"""Tenants that browsers treat as one site are warned about; a tenant's own domain is validated."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantctl.app import app
from tenants import cookie_sites
from tenants.docker_specs import edge_spec
from tenants.errors import FleetError
from tenants.fleet_warnings import fleet_warnings
from tenants.load import parse_fleet
from tenants.model import Fleet
from tenants.resolved import DockerTenant, resolve_all

BASE = """\
version: 1
domain: {domain}
{top}targets:
  local:
    type: docker
    capacity: {{cpus: 8, memory_gib: 32, networks: 10, storage_gib: 1000}}
  eu:
    type: kubernetes
    context: prod-eu
    domain: eu.tenants.example.com
    capacity: {{cpus: 64, memory_gib: 256, storage_gib: 4000}}
    dns: {{mode: {dns}}}
defaults: {{target: local, model_provider: kimi}}
tenants:
  - id: acme
  - id: globex
  - id: initech
    state: offboarded
"""


def fleet_text(domain: str = "tenants.example.com", top: str = "", tenants: str = "", dns: str = "none") -> str:
    return BASE.format(domain=domain, top=top, dns=dns) + tenants


def fleet(**parts: str) -> Fleet:
    return parse_fleet(fleet_text(**parts), "fleet.yaml")


def problems(**parts: str) -> list[tuple[int, tuple[str | int, ...], str]]:
    with pytest.raises(FleetError) as info:
        parse_fleet(fleet_text(**parts), "fleet.yaml")
    return [(p.line, p.path, p.message) for p in info.value.problems]


def cookie_lines(fleet: Fleet) -> list[str]:
    return [w for w in fleet_warnings(fleet) if "Public Suffix List" in w]


@pytest.mark.parametrize(
    ("host", "declared", "site"),
    [
        ("acme.tenants.example.com", (), "example.com"),
        ("acme.tenants.example.com", ("tenants.example.com",), "acme.tenants.example.com"),
        ("acme.github.io", (), "acme.github.io"),  # github.io is on the list (its private section)
        ("claw.acme.co.uk", (), "acme.co.uk"),
        ("acme.localhost", (), "acme.localhost"),  # an unknown top-level label is a public suffix
        ("github.io", (), None),
        ("tenants.example.com", ("tenants.example.com",), None),
    ],
)
def test_a_host_s_site_is_its_registrable_domain_by_the_list_and_the_declared_suffixes(
    host: str, declared: tuple[str, ...], site: str | None
) -> None:
    assert cookie_sites.site(host, declared) == site


def test_tenants_under_one_ordinary_domain_are_warned_about_with_the_fix() -> None:
    lines = cookie_lines(fleet())
    assert lines == [
        "tenants acme, globex share the site example.com: a cookie one of them sets for .example.com reaches "
        "every other, and SameSite does not tell them apart. Put tenants.example.com on the Public Suffix List "
        "and list it in public_suffixes, or give each tenant a domain of its own (tenant key domain)"
    ]
    # The offboarded tenant has no host any more; a suspended one will be served again and counts.
    suspended = fleet(tenants="  - id: hooli\n    state: suspended\n")
    assert cookie_lines(suspended)[0].startswith("tenants acme, globex, hooli share the site example.com")


def test_one_site_spans_targets_whose_domains_share_a_registrable_domain() -> None:
    mixed = fleet(tenants="  - id: hooli\n    target: eu\n")
    (line,) = cookie_lines(mixed)
    assert line.startswith("tenants acme, globex, hooli share the site example.com")
    assert "Put tenants.example.com on the Public Suffix List" in line  # the parent all three hosts share


def test_a_domain_on_the_list_needs_no_declaration() -> None:
    assert cookie_lines(fleet(domain="github.io")) == []  # on the list: each <id>.github.io is a site
    assert cookie_lines(fleet(domain="localhost")) == []


def test_a_declared_suffix_silences_the_shared_site_but_not_the_list_s_lag() -> None:
    declared = fleet(top="public_suffixes: [tenants.example.com]\n")
    assert cookie_lines(declared) == [
        f"public_suffixes: tenants.example.com is not on the Public Suffix List shipped here (publicsuffixlist "
        f"{cookie_sites.LIST_VERSION}); browsers keep sending one tenant's cookies to the others (acme, globex) "
        "until the list they ship includes it"
    ]
    assert declared.public_suffixes == ("tenants.example.com",)


def test_tenants_on_domains_of_their_own_are_sites_of_their_own() -> None:
    own = fleet(
        tenants="  - id: hooli\n    domain: claw.hooli.com\n  - id: vandelay\n    domain: vandelay-claw.co.uk\n"
    )
    assert cookie_sites.shared_sites(own) == {"example.com": ["acme", "globex"]}
    two_of_one_customer = fleet(
        tenants="  - id: hooli\n    domain: a.hooli.com\n  - id: hooli-dev\n    domain: b.hooli.com\n"
    )
    assert cookie_sites.shared_sites(two_of_one_customer)["hooli.com"] == ["hooli", "hooli-dev"]


def test_a_tenant_s_own_domain_is_its_host_url_route_and_allowed_origin() -> None:
    own = fleet(
        tenants="  - id: hooli\n    domain: claw.hooli.com\n"
        "  - id: vandelay\n    target: eu\n    domain: claw.vandelay.com\n"
    )
    hooli, vandelay = own.tenant("hooli"), own.tenant("vandelay")
    assert own.host(hooli) == "claw.hooli.com" and own.url(hooli) == "http://claw.hooli.com:8080"
    assert own.url(vandelay) == "http://claw.vandelay.com"  # the cluster's ingress, without TLS here
    resolved = {t.id: t for t in resolve_all(own, own.tenants, DockerTenant)}
    assert resolved["hooli"].host == "claw.hooli.com"
    assert '"allowedOrigins": [\n        "http://claw.hooli.com:8080"' in resolved["hooli"].gateway_config_text
    routes = {r.tenant_id: r.host for r in edge_spec(own, "local", tuple(resolved.values())).routes}
    assert routes == {
        "acme": "acme.tenants.example.com",
        "globex": "globex.tenants.example.com",
        "hooli": "claw.hooli.com",
    }


def test_own_domains_are_validated_with_their_line() -> None:
    assert problems(tenants="  - id: hooli\n    domain: hooli\n") == [
        (
            20,
            ("tenants", 3, "domain"),
            "'hooli' is a single label; name a registered domain like acme.com, or a name under one",
        )
    ]
    assert problems(tenants="  - id: hooli\n    domain: Claw.Hooli.com\n")[0][2] == (
        "'Claw.Hooli.com' is not a lowercase DNS name like tenants.example.com"
    )
    assert problems(tenants="  - id: hooli\n    domain: co.uk\n") == [
        (
            20,
            ("tenants", 3, "domain"),
            "co.uk is a public suffix, which no one site owns: use a domain the customer or you registered, "
            "or a name under one (like claw.acme.com)",
        )
    ]


def test_an_own_domain_may_not_take_another_tenant_s_host() -> None:
    taken = problems(tenants="  - id: hooli\n    domain: acme.tenants.example.com\n")
    assert taken == [
        (
            20,
            ("tenants", 3, "domain"),
            "acme.tenants.example.com is also the host of tenant 'acme'; each host routes to one",
        )
    ]
    both = problems(tenants="  - id: hooli\n    domain: claw.x.com\n  - id: vandelay\n    domain: claw.x.com\n")
    assert [(line, path) for line, path, _ in both] == [(20, ("tenants", 3, "domain")), (22, ("tenants", 4, "domain"))]


def test_an_own_domain_is_refused_where_dns_records_live_in_one_zone() -> None:
    cloudflare = problems(
        tenants="  - id: hooli\n    target: eu\n    domain: claw.hooli.com\n",
        dns="cloudflare, record_target: 203.0.113.7",
    )
    assert len(cloudflare) == 1 and cloudflare[0][1] == ("tenants", 3, "domain")
    assert cloudflare[0][2].startswith("target 'eu' has dns mode cloudflare, which writes every tenant's record")


def test_declared_suffixes_are_dns_names_of_two_labels_or_more() -> None:
    assert problems(top="public_suffixes: [com, 7, tenants.example.com]\n") == [
        (
            3,
            ("public_suffixes", 0),
            "'com' is a single label; name a registered domain like acme.com, or a name under one",
        ),
        (3, ("public_suffixes", 1), "must be a DNS name like tenants.example.com; got 7"),
    ]
    assert problems(top="public_suffixes: tenants.example.com\n")[0][2] == "must be a list; got a str"


def test_validate_prints_the_warning(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(fleet_text())
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: tenants acme, globex share the site example.com" in result.output
