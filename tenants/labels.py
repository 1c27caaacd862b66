"""Ownership labels put on everything a tenant owns, and on each target's platform pieces."""

from __future__ import annotations

from .model import Tenant

MANAGED_BY = "openclaw-tenants"
TENANT_LABEL = "openclaw.io/tenant"
COMPONENT_LABEL = "openclaw.io/component"

# A target's platform pieces, by their component label (the policy pack grants each its own exceptions).
EDGE_COMPONENT = "edge"
MODEL_GATEWAY_COMPONENT = "model-gateway"
EGRESS_FILTER_COMPONENT = "egress-filter"
STORAGE_COMPONENT = "storage"
BACKUP_COMPONENT = "backup"


def fixed_labels(tenant: Tenant) -> dict[str, str]:
    """Labels that never change for a tenant: the only ones fit for create-only objects.

    Docker networks and volumes cannot change their labels in place, so a plan or customer label on
    them would replace a fixed-name network (the update fails) or a volume (its data is retained,
    but the tenant would be moved to a new empty one).
    """
    return {"app.kubernetes.io/managed-by": MANAGED_BY, TENANT_LABEL: tenant.id}


def owner_labels(tenant: Tenant) -> dict[str, str]:
    """Every label of a tenant, for objects that are updated or replaced with the tenant's own edits."""
    return {**tenant.labels, **fixed_labels(tenant), "openclaw.io/plan": tenant.plan}


def platform_labels(component: str, target_name: str) -> dict[str, str]:
    """A target's shared piece (edge proxy, model gateway, egress filter): no tenant label, its role."""
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        COMPONENT_LABEL: component,
        "openclaw.io/target": target_name,
    }
