"""Where a target's model gateway is found: its names on each backend and the URL tenants use."""

from __future__ import annotations

from .contract import MODEL_GATEWAY_PORT
from .model import DockerTarget, KubernetesTarget

K8S_APP = "model-gateway"  # the Deployment, Service and pod selector in the platform namespace


def docker_name(target_name: str) -> str:
    """The gateway's container, its own network and (as a prefix) its volume on a Docker target."""
    return f"openclaw-models-{target_name}"


def docker_volume_name(target_name: str) -> str:
    return f"{docker_name(target_name)}-ledger"


def docker_url(target_name: str) -> str:
    """The gateway's root URL on a Docker target: its container name, on each tenant's network."""
    return f"http://{docker_name(target_name)}:{MODEL_GATEWAY_PORT}"


def gateway_url(target_name: str, target: DockerTarget | KubernetesTarget) -> str:
    """The gateway's root URL as a tenant reaches it: by container name on the tenant's network, or
    by Service name in the cluster."""
    if isinstance(target, DockerTarget):
        return docker_url(target_name)
    return f"http://{K8S_APP}.{target.model_gateway.namespace}.svc:{MODEL_GATEWAY_PORT}"
