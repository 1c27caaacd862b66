"""Kubernetes manifests (a tenant's, a model gateway's) → typed pulumi-kubernetes resources, one each."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from tenants.contract import SecretRef
from tenants.k8s_specs import Manifest, TenantManifests

# Roles whose objects hold data: never deleted by editing tenants.yaml (a namespace takes its PVCs).
RETAINED = frozenset({"namespace", "state"})
# The engine would wait for a claim to bind, which WaitForFirstConsumer classes do only with a pod:
# no claim is awaited.

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
    "Role": (k8s.rbac.v1.Role, ("rules",)),
    "RoleBinding": (k8s.rbac.v1.RoleBinding, ("roleRef", "subjects")),
    "CronJob": (k8s.batch.v1.CronJob, ("spec",)),
}
_ARG_NAMES = {"automountServiceAccountToken": "automount_service_account_token", "roleRef": "role_ref"}
# Kinds created once all that precedes them exists: their pods use it.
_AFTER_ALL = frozenset({"Deployment", "CronJob"})
# A digest of the Secret on the pod template: a new token or key rolls the pod, so the old one stops working.
SECRET_REVISION = "openclaw.io/secret-revision"


def string_data(secret_env: Mapping[str, SecretRef], secrets: Mapping[str, pulumi.Input[str]]) -> pulumi.Output[Any]:
    """A Secret's data: each key filled from the generated secret it names; always a secret."""
    keys = [k for k, ref in secret_env.items() if ref in secrets]
    values = [pulumi.Output.secret(secrets[secret_env[k]]) for k in keys]
    # An empty value (Pulumi.yaml's default for provider keys) means "not configured".
    return pulumi.Output.secret(
        pulumi.Output.all(*values).apply(lambda vs: {k: v for k, v in zip(keys, vs, strict=True) if v})
    )


def _revision(data: pulumi.Output[Any]) -> pulumi.Output[str]:
    digest = data.apply(lambda d: hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16])
    # One-way and truncated: safe to show in a diff, and a plain value keeps the pod template readable.
    return pulumi.Output.unsecret(digest)


def _with_revision(spec: Mapping[str, Any], revision: str) -> dict[str, Any]:
    template = dict(spec["template"])
    metadata = dict(template.get("metadata", {}))
    metadata["annotations"] = {**metadata.get("annotations", {}), SECRET_REVISION: revision}
    return {**spec, "template": {**template, "metadata": metadata}}


def create_objects(
    prefix: str,
    objects: Sequence[tuple[str, Manifest]],
    *,
    secret_data: Mapping[str, pulumi.Output[Any]],
    rolling_secret: pulumi.Output[Any],
    retained: frozenset[str],
    parent: pulumi.Resource,
) -> dict[str, pulumi.CustomResource]:
    """Create every manifest as a typed resource named ``<prefix>-<role>``, in order, under ``parent``.

    A Secret's data comes from ``secret_data`` (by role); a Deployment's pod carries a digest of
    ``rolling_secret``, so a changed secret rolls the pod.
    """
    created: dict[str, pulumi.CustomResource] = {}
    for role, manifest in objects:
        factory, fields = _KINDS[manifest["kind"]]
        metadata: dict[str, Any] = dict(manifest["metadata"])
        if manifest["kind"] == "PersistentVolumeClaim":
            metadata["annotations"] = {**metadata.get("annotations", {}), "pulumi.com/skipAwait": "true"}
        kwargs: dict[str, Any] = {_ARG_NAMES.get(f, f): manifest[f] for f in fields if f in manifest}
        if manifest["kind"] == "Secret":
            kwargs["string_data"] = secret_data[role]
        if manifest["kind"] == "Deployment":
            kwargs["spec"] = _revision(rolling_secret).apply(partial(_with_revision, manifest["spec"]))
        depends = list(created.values()) if manifest["kind"] in _AFTER_ALL else list(created.values())[:1]
        created[role] = factory(
            f"{prefix}-{role}",
            metadata=metadata,
            **kwargs,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=depends, retain_on_delete=role in retained),
        )
    return created


def config_string_data(keys: Mapping[str, str], config: pulumi.Config) -> pulumi.Output[Any]:
    """A Secret's data: each key filled from the Pulumi secret config key it names; always a secret."""
    names = list(keys)
    values = [config.require_secret(keys[name]) for name in names]
    return pulumi.Output.secret(pulumi.Output.all(*values).apply(lambda vs: dict(zip(names, vs, strict=True))))


def build(
    manifests: TenantManifests,
    secrets: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
) -> dict[str, pulumi.CustomResource]:
    """Create every object of ``manifests`` as a child of ``parent``; names ``<tenant id>-<role>``."""
    data = string_data(manifests.secret_env, secrets)
    config = pulumi.Config()
    from_config = {role: config_string_data(keys, config) for role, keys in manifests.config_secrets.items()}
    return create_objects(
        manifests.tenant_id,
        manifests.objects,
        secret_data={"secret": data, **from_config},
        rolling_secret=data,
        retained=RETAINED,
        parent=parent,
    )
