"""What each target's model gateway gets, as plain frozen data: on a Docker host and on a cluster.

The gateway alone holds the providers' master keys and is the only thing that calls the providers.
Its static file (gateway.json: models, upstreams, prices) is written when it is created; its key
registry (tenants.json) is rewritten in place whenever tenants change. The registry entries here
carry no key hashes: the keys are generated secrets, so the components add each tenant's sha256
when they render the registry with ``registry_document``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import PROVIDER_UPSTREAMS
from .contract import (
    LEDGER_URL,
    MODEL_GATEWAY_DATA_DIR,
    MODEL_GATEWAY_FILES_VERSION,
    MODEL_GATEWAY_LEDGER_ENV,
    MODEL_GATEWAY_MODELS_PATH,
    MODEL_GATEWAY_REGISTRY_PATH,
    MODEL_GATEWAY_UID,
    SecretRef,
)
from .docker_specs import (
    NO_HOST_ADDRESS,
    ContainerSpec,
    Healthcheck,
    Mount,
    NetworkSpec,
    Upload,
    VolumeSpec,
    network_name,
)
from .labels import MODEL_GATEWAY_COMPONENT, platform_labels
from .model import CatalogModel, DockerTarget, Fleet, KubernetesTarget, ModelProvider
from .model_gateway_names import docker_name, docker_volume_name
from .resolved import ResolvedTenant

# The secret that holds each provider's master key, and the variable the gateway reads it from.
MASTER_KEY: Mapping[ModelProvider, SecretRef] = {
    "kimi": "kimi_master_key",
    "minimax": "minimax_master_key",
    "anthropic": "anthropic_master_key",
    "openai": "openai_master_key",
    "openrouter": "openrouter_master_key",
}
MASTER_KEY_ENV: Mapping[ModelProvider, str] = {p: PROVIDER_UPSTREAMS[p]["key_env"] for p in MASTER_KEY}
MASTER_KEY_ENVS: tuple[str, ...] = tuple(MASTER_KEY_ENV.values())

# The launcher turns gateway.json into the proxy's config and starts it (also the image's CMD).
LAUNCHER: tuple[str, ...] = ("python3", "-m", "model_gateway")
HEALTHCHECK_COMMAND: tuple[str, ...] = ("CMD", "python3", "-m", "model_gateway.healthcheck")
GATEWAY_CPUS = 1.0
GATEWAY_MEMORY_MIB = 1024
GATEWAY_PIDS = 512


@dataclass(frozen=True)
class RegistryEntry:
    """One active tenant as the gateway knows it, without its key's hash."""

    tenant_id: str
    budget_usd: str  # monthly, a decimal string
    rpm: int
    tpm: int
    models: tuple[str, ...]


@dataclass(frozen=True)
class ModelGatewayDockerSpec:
    """A Docker target's model gateway: its own network, a retained ledger volume, one container,
    a link to each active tenant's network, and the registry written into the running container."""

    target: str
    network: NetworkSpec
    volume: VolumeSpec
    container: ContainerSpec
    models_config: str  # gateway.json
    registry: tuple[RegistryEntry, ...]
    links: tuple[tuple[str, str], ...]  # (tenant id, its network name), one per registry entry
    registry_path: str = MODEL_GATEWAY_REGISTRY_PATH


def gateway_labels(target_name: str) -> dict[str, str]:
    return platform_labels(MODEL_GATEWAY_COMPONENT, target_name)


def upstream_of(provider: ModelProvider, target: DockerTarget | KubernetesTarget) -> str:
    """The provider's base URL for this target: its override, else the provider's public API."""
    return target.model_gateway.upstreams.get(provider, PROVIDER_UPSTREAMS[provider]["api_base"])


def models_document(models: Mapping[str, CatalogModel], target: DockerTarget | KubernetesTarget) -> dict[str, Any]:
    """gateway.json: every catalog model with its upstream, the variable of its master key, and prices."""
    return {
        "version": MODEL_GATEWAY_FILES_VERSION,
        "models": {
            model_id: {
                "provider": model.provider,
                "api": model.api,
                "upstream_model": model.upstream_model,
                "api_base": upstream_of(model.provider, target),
                "key_env": MASTER_KEY_ENV[model.provider],
                "input_usd_per_mtok": str(model.input_usd_per_mtok),
                "output_usd_per_mtok": str(model.output_usd_per_mtok),
            }
            for model_id, model in sorted(models.items())
        },
    }


def render_json(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def registry_entries(tenants: Sequence[ResolvedTenant[Any]], target_name: str) -> tuple[RegistryEntry, ...]:
    """The target's active tenants that may use models: a suspended or offboarded tenant, or one on
    egress `none`, is absent, so its key is refused (and a `none` tenant's network is not linked)."""
    return tuple(
        RegistryEntry(
            tenant_id=t.id,
            budget_usd=str(t.models.budget_usd),
            rpm=t.models.rpm,
            tpm=t.models.tpm,
            models=t.models.models,
        )
        for t in sorted(tenants, key=lambda t: t.id)
        if t.tenant.target == target_name and t.tenant.state == "active" and t.egress != "none"
    )


def registry_document(entries: Sequence[RegistryEntry], key_sha256: Mapping[str, str]) -> str:
    """tenants.json: each entry with the hex sha256 of its tenant's virtual key."""
    return render_json(
        {
            "version": MODEL_GATEWAY_FILES_VERSION,
            "tenants": {
                e.tenant_id: {
                    "key_sha256": key_sha256[e.tenant_id],
                    "budget_usd": e.budget_usd,
                    "rpm": e.rpm,
                    "tpm": e.tpm,
                    "models": list(e.models),
                }
                for e in entries
            },
        }
    )


def secret_environment(models: Mapping[str, CatalogModel]) -> dict[str, SecretRef]:
    """Variable → secret: the master key of every provider a catalog model uses, and the operator's ledger
    URL (unset secrets are left out; without a ledger URL the gateway keeps its SQLite file on its volume)."""
    providers = sorted({m.provider for m in models.values()})
    return {**{MASTER_KEY_ENV[p]: MASTER_KEY[p] for p in providers}, MODEL_GATEWAY_LEDGER_ENV: LEDGER_URL}


def gateway_environment() -> dict[str, str]:
    return {"HOME": "/tmp"}


def docker_spec(fleet: Fleet, target_name: str, tenants: Sequence[ResolvedTenant[Any]]) -> ModelGatewayDockerSpec:
    """The model gateway of one Docker target, serving exactly its active tenants."""
    target = fleet.target_as(target_name, DockerTarget)
    name, labels = docker_name(target_name), gateway_labels(target_name)
    closed = target.model_gateway.egress == "none"
    network = NetworkSpec(name, internal=closed, labels=labels, options=NO_HOST_ADDRESS if closed else {})
    volume = VolumeSpec(docker_volume_name(target_name), labels=labels)
    models_config = render_json(models_document(fleet.models, target))
    empty_registry = registry_document((), {})
    uid = MODEL_GATEWAY_UID
    container = ContainerSpec(
        name=name,
        image=fleet.images.model_gateway,
        command=LAUNCHER,
        entrypoint=None,  # the image's init (tini)
        working_dir=None,
        user=f"{uid}:{uid}",
        env=gateway_environment(),
        secret_env=secret_environment(fleet.models),
        cpus=GATEWAY_CPUS,
        memory_mib=GATEWAY_MEMORY_MIB,
        pids_limit=GATEWAY_PIDS,
        # gateway.json and the registry arrive as uploads, and the registry is rewritten in place.
        read_only=False,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=256m"},
        networks=(name,),
        mounts=(Mount(volume.name, MODEL_GATEWAY_DATA_DIR),),
        uploads=(
            Upload(path=MODEL_GATEWAY_MODELS_PATH, content=models_config, owner=0, group=0, mode="0444"),
            Upload(path=MODEL_GATEWAY_REGISTRY_PATH, content=empty_registry, owner=0, group=0, mode="0444"),
        ),
        ports=(),
        healthcheck=Healthcheck(
            test=HEALTHCHECK_COMMAND, interval_s=30, timeout_s=5, retries=3, start_period_s=60, start_interval_s=0
        ),
        labels=labels,
        hostname=name,
    )
    registry = registry_entries(tenants, target_name)
    return ModelGatewayDockerSpec(
        target=target_name,
        network=network,
        volume=volume,
        container=container,
        models_config=models_config,
        registry=registry,
        links=tuple((e.tenant_id, network_name(e.tenant_id)) for e in registry),
    )
