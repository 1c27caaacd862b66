"""Fleet variants of the example tenants.yaml for the Kubernetes manifest tests.

Each variant is fleet *text*: the example file edited through a YAML round trip (comments and layout
kept), so it goes through the real loader (`parse_fleet`) and can be handed to `tenantctl` as a file.
The edits address the example by structure (target ``cluster-eu``, its tenants), not by line.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from ruamel.yaml import YAML

from harness.paths import EXAMPLE_FLEET_FILE
from tenants.contract import TENANT_STATES

CLUSTER = "cluster-eu"
# Added to the state variants so every plan (basic, pro, enterprise) runs on the cluster.
ENTERPRISE_TENANT = "wayne"
# Valid label values that are booleans to a YAML 1.1 reader unless the renderer quotes them.
YAML11_LABELS = {"marketing-opt-in": "yes", "sso": "on", "legacy-billing": "n"}

Edit = Callable[[Any], None]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def edited(*edits: Edit, text: str | None = None) -> str:
    """The example fleet text (or `text`) with each edit applied to its round-trip tree."""
    yaml = _yaml()
    data = yaml.load(EXAMPLE_FLEET_FILE.read_text() if text is None else text)
    for edit in edits:
        edit(data)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def cluster(data: Any) -> Any:
    return data["targets"][CLUSTER]


def cluster_tenants(data: Any) -> list[Any]:
    return [t for t in data["tenants"] if t.get("target", data["defaults"]["target"]) == CLUSTER]


def set_cluster(**fields: Any) -> Edit:
    """Set (or, with None, remove) fields of the cluster target."""

    def edit(data: Any) -> None:
        target = cluster(data)
        for key, value in fields.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value

    return edit


def add_enterprise_tenant(data: Any) -> None:
    data["tenants"].append(
        {
            "id": ENTERPRISE_TENANT,
            "plan": "enterprise",
            "target": CLUSTER,
            "shard": "k8s-example",
            "model_provider": "anthropic",
        }
    )


def all_cluster_tenants(state: str) -> Edit:
    def edit(data: Any) -> None:
        for tenant in cluster_tenants(data):
            tenant["state"] = state

    return edit


def yaml11_label_values(data: Any) -> None:
    """Label values that YAML 1.1 readers (kubectl: sigs.k8s.io/yaml, go-yaml v2) take for booleans."""
    for tenant in cluster_tenants(data):
        tenant["labels"] = {**tenant.get("labels", {}), **YAML11_LABELS}


def without_egress_cidrs(data: Any) -> None:
    """The cluster's default egress mode (`models`): no cidrs, nothing excluded."""
    egress = cluster(data)["egress"]
    for key in ("mode", "cidrs", "excluded"):
        egress.pop(key, None)


def plan_egress(**modes: str) -> Edit:
    """Give plans an egress mode of their own, replacing the cluster's for their tenants."""

    def edit(data: Any) -> None:
        plans = data.setdefault("plans", {})
        for plan, mode in modes.items():
            plans.setdefault(plan, {})["egress"] = mode

    return edit


# Where the backup variants' jobs may connect: the repository's address and the API server's endpoints.
BACKUP_CIDRS = ["198.51.100.20/32", "10.96.0.1/32", "172.18.0.2/32"]
SFTP_KNOWN_HOSTS = "backup.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKexampleexampleexampleexampleexample00"


def set_backups(**fields: Any) -> Edit:
    """Replace the fleet's `backups` section."""

    def edit(data: Any) -> None:
        data["backups"] = dict(fields)

    return edit


VARIANTS: dict[str, str] = {
    "example": edited(),
    # The controller's wildcard certificate, records in Cloudflare, no provider egress, cluster defaults.
    "wildcard-cloudflare": edited(
        set_cluster(
            tls={"mode": "wildcard-secret", "secret": "wildcard-tls"},
            dns={"mode": "cloudflare", "record_target": "203.0.113.10"},
            storage_class=None,
            runtime_class=None,
        ),
        without_egress_cidrs,
    ),
    "tls-none": edited(set_cluster(tls={"mode": "none"})),
    # One cluster (egress internet), three plans: basic tenants get no egress at all, enterprise ones
    # only cluster DNS and the model gateway, pro ones also the cluster's cidrs.
    "egress-per-plan": edited(add_enterprise_tenant, plan_egress(basic="none", enterprise="models")),
    # Tenant label values a YAML 1.1 reader would take for booleans unless quoted.
    "yaml11-labels": edited(yaml11_label_values),
    **{state: edited(add_enterprise_tenant, all_cluster_tenants(state)) for state in TENANT_STATES},
    # Scheduled backups to S3; the basic plan takes none on a schedule, enterprise every 6 hours.
    "backups-s3": edited(
        add_enterprise_tenant,
        set_backups(repository="s3:https://s3.eu.example.com/openclaw-backups/eu", cidrs=BACKUP_CIDRS),
        lambda data: data.setdefault("plans", {}).update(
            {"basic": {"backup": {"every": "off"}}, "enterprise": {"backup": {"every": "6h", "keep": {"last": 4}}}}
        ),
    ),
    # Backups over SFTP on port 2222, with every tenant of the cluster taking them (vandelay is suspended).
    "backups-sftp": edited(
        set_backups(
            repository="sftp://backup@backup.example.com:2222//srv/openclaw",
            known_hosts=SFTP_KNOWN_HOSTS,
            cidrs=BACKUP_CIDRS,
            port=2222,
        )
    ),
}

# Every role a live tenant's manifests have, in apply order (the logical-name suffixes).
ALL_ROLES = (
    "namespace",
    "quota",
    "limits",
    "default-deny",
    "gateway-traffic",
    "service-account",
    "secret",
    "config",
    "state",
    "deployment",
    "service",
    "ingress",
)
