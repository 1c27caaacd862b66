"""Ownership labels put on everything a tenant owns, on every backend."""

from __future__ import annotations

from .model import Tenant

MANAGED_BY = "openclaw-tenants"


def owner_labels(tenant: Tenant) -> dict[str, str]:
    return {
        **tenant.labels,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "openclaw.io/tenant": tenant.id,
        "openclaw.io/plan": tenant.plan,
    }
