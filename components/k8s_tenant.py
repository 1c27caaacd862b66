"""A tenant's Kubernetes manifests → typed pulumi-kubernetes resources, one per manifest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from tenants.k8s_specs import TenantManifests

# Roles whose objects hold data: never deleted by editing tenants.yaml (a namespace takes its PVCs).
RETAINED = frozenset({"namespace", "state"})
# The engine would wait for a claim to bind, which WaitForFirstConsumer classes do only with a pod.
SKIP_AWAIT = frozenset({"state"})

Factory = Callable[..., pulumi.CustomResource]

_KINDS: Mapping[str, tuple[Factory, tuple[str, ...]]] = {
    "Namespace": (k8s.core.v1.Namespace, ()),
    "ResourceQuota": (k8s.core.v1.ResourceQuota, ("spec",)),
    "LimitRange": (k8s.core.v1.LimitRange, ("spec",)),
    "NetworkPolicy": (k8s.networking.v1.NetworkPolicy, ("spec",)),
    "ServiceAccount": (k8s.core.v1.ServiceAccount, ("automountServiceAccountToken",)),
    "Secret": (k8s.core.v1.Secret, ("type",)),
    "ConfigMap": (k8s.core.v1.ConfigMap, ("data",)),
    "PersistentVolumeClaim": (k8s.core.v1.PersistentVolumeClaim, ("spec",)),
    "Deployment": (k8s.apps.v1.Deployment, ("spec",)),
    "Service": (k8s.core.v1.Service, ("spec",)),
    "Ingress": (k8s.networking.v1.Ingress, ("spec",)),
}
_ARG_NAMES = {"automountServiceAccountToken": "automount_service_account_token"}
# A digest of the Secret on the pod template: a new token or key rolls the pod, so the old one stops working.
SECRET_REVISION = "openclaw.io/secret-revision"


def _string_data(manifests: TenantManifests, secrets: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[Any]:
    keys = [k for k, ref in manifests.secret_env.items() if ref in secrets]
    values = [pulumi.Output.secret(secrets[manifests.secret_env[k]]) for k in keys]
    # An empty value (Pulumi.yaml's default for provider keys) means "not configured".
    return pulumi.Output.secret(
        pulumi.Output.all(*values).apply(lambda vs: {k: v for k, v in zip(keys, vs, strict=True) if v})
    )


def _revision(string_data: pulumi.Output[Any]) -> pulumi.Output[str]:
    digest = string_data.apply(lambda data: hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16])
    # One-way and truncated: safe to show in a diff, and a plain value keeps the pod template readable.
    return pulumi.Output.unsecret(digest)


def _with_revision(spec: Mapping[str, Any], revision: str) -> dict[str, Any]:
    template = dict(spec["template"])
    metadata = dict(template.get("metadata", {}))
    metadata["annotations"] = {**metadata.get("annotations", {}), SECRET_REVISION: revision}
    return {**spec, "template": {**template, "metadata": metadata}}


def build(
    manifests: TenantManifests,
    secrets: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
) -> dict[str, pulumi.CustomResource]:
    """Create every object of ``manifests`` as a child of ``parent``; names ``<tenant id>-<role>``."""
    created: dict[str, pulumi.CustomResource] = {}
    string_data = _string_data(manifests, secrets)
    for role, manifest in manifests.objects:
        factory, fields = _KINDS[manifest["kind"]]
        metadata: dict[str, Any] = dict(manifest["metadata"])
        if role in SKIP_AWAIT:
            metadata["annotations"] = {**metadata.get("annotations", {}), "pulumi.com/skipAwait": "true"}
        kwargs: dict[str, Any] = {_ARG_NAMES.get(f, f): manifest[f] for f in fields if f in manifest}
        if manifest["kind"] == "Secret":
            kwargs["string_data"] = string_data
        if manifest["kind"] == "Deployment":
            kwargs["spec"] = _revision(string_data).apply(partial(_with_revision, manifest["spec"]))
        depends = list(created.values()) if manifest["kind"] == "Deployment" else list(created.values())[:1]
        created[role] = factory(
            f"{manifests.tenant_id}-{role}",
            metadata=metadata,
            **kwargs,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=depends, retain_on_delete=role in RETAINED),
        )
    return created
