"""The OpenClaw gateway's runtime contract (openclaw 2026.9.x), kept in one module for version bumps."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .contract import GATEWAY_TOKEN, MODEL_KEY, MODEL_KEY_ENV, SecretRef
from .model import CatalogModel, ModelApi, Profile

PORT = 18789
# The image's own user (node), owner of /app and of the empty state dir a fresh volume copies. Tenants
# run as a host uid of their own instead (tenants/host_uid.py); the image needs no passwd entry for it.
IMAGE_UID = 1000
HOME = "/home/node"
STATE_DIR = f"{HOME}/.openclaw"
# The config lives inside the state dir: the gateway creates media/ beside it, so it must be writable.
CONFIG_PATH = f"{STATE_DIR}/openclaw.json"
CACHE_DIR = f"{STATE_DIR}/cache"  # XDG_CACHE_HOME: /home/node/.cache is on the read-only root
WORKDIR = "/app"
GATEWAY: tuple[str, ...] = ("node", "dist/index.js", "gateway", "--bind", "lan", "--port", str(PORT))

# The config is rendered by this project and handed over in the environment; the container writes it
# into the state volume at every start, then becomes the gateway. A file upload cannot do this: Docker
# refuses uploads into a read-only root, and the gateway needs a writable directory beside its config.
CONFIG_ENV = "TENANT_GATEWAY_CONFIG"
COMMAND: tuple[str, ...] = (
    "sh",
    "-c",
    f'printf \'%s\' "${CONFIG_ENV}" > "$OPENCLAW_CONFIG_PATH" && exec {" ".join(GATEWAY)}',
)

LIVENESS_PATH = "/healthz"
STARTUP_PATH = "/startupz"  # also readiness: /readyz fails on channel errors, which should not drop traffic
TMP_DIR = "/tmp"  # logs go to /tmp/openclaw; needs a tmpfs with a read-only root
# The size of that tmpfs on every backend (Docker `tmpfs`, a Kubernetes memory-backed emptyDir); what it holds
# is memory, charged to the gateway's memory limit.
TMP_SIZE_MIB = 256

TOKEN_ENV = "OPENCLAW_GATEWAY_TOKEN"
# Variables the gateway's bundled provider plugins read a provider key from; a tenant never has one.
PROVIDER_KEY_ENVS: tuple[str, ...] = (
    "MOONSHOT_API_KEY",
    "KIMI_API_KEY",
    "MINIMAX_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
)

HEAP_FRACTION = 0.75  # upstream: 1536 MiB heap for a 2 GiB container

# The image has no curl; node's fetch checks the JSON body (unknown paths answer 200 HTML).
HEALTHCHECK_COMMAND: tuple[str, ...] = (
    "CMD",
    "node",
    "-e",
    f"fetch('http://127.0.0.1:{PORT}{LIVENESS_PATH}').then(r=>r.json())"
    ".then(b=>process.exit(b.ok===true?0:1)).catch(()=>process.exit(1))",
)


def image(repository: str, version: str) -> str:
    return f"{repository}:{version}"


def heap_mib(memory_mib: int) -> int:
    """Node's old-space limit for a container of ``memory_mib``, in whole MiB."""
    return int(memory_mib * HEAP_FRACTION)


def environment(memory_mib: int) -> dict[str, str]:
    """Plain (non-secret) environment of a tenant gateway; the config arrives in CONFIG_ENV."""
    return {
        "HOME": HOME,
        "OPENCLAW_STATE_DIR": STATE_DIR,
        "OPENCLAW_CONFIG_PATH": CONFIG_PATH,
        "OPENCLAW_CONFIG_READONLY": "1",
        "XDG_CACHE_HOME": CACHE_DIR,
        "OPENCLAW_DISABLE_BONJOUR": "1",
        "OPENCLAW_NO_AUTO_UPDATE": "1",
        "NODE_OPTIONS": f"--max-old-space-size={heap_mib(memory_mib)}",
    }


def secret_environment() -> dict[str, SecretRef]:
    """Which generated secret fills which variable: the gateway token and the virtual model key, and
    nothing else (no provider key ever reaches a tenant)."""
    return {TOKEN_ENV: GATEWAY_TOKEN, MODEL_KEY_ENV: MODEL_KEY}


# What a hosted tenant needs of the bundled plugins in the lean profile: memory and device pairing.
# Its models come through the model gateway, a custom provider that needs no provider plugin.
LEAN_PLUGINS: tuple[str, ...] = ("memory-core", "device-pair")
# Plugins whose side features call a provider's own hosts with a provider key of their own, past
# the model gateway: Kimi web search (moonshot) and MiniMax image, music, speech and search (minimax).
CLOSED_PLUGINS: tuple[str, ...] = ("minimax", "moonshot")

# The model gateway, as the tenant's one model provider.
MODEL_PROVIDER_ID = "openclaw-models"
ADAPTER: Mapping[ModelApi, str] = {"openai": "openai-completions", "anthropic": "anthropic-messages"}
CONTEXT_WINDOW = 128_000
MAX_TOKENS = 8_192


@dataclass(frozen=True)
class ModelRoute:
    """How a tenant's gateway reaches its models: the model gateway's root URL, the API style of the
    tenant's provider, and the allowed models of that provider (the first is the default)."""

    gateway_url: str
    api: ModelApi
    models: tuple[tuple[str, CatalogModel], ...]

    @property
    def base_url(self) -> str:
        # OpenAI-style clients append /chat/completions to a /v1 base; Anthropic-style ones /v1/messages.
        return f"{self.gateway_url}/v1" if self.api == "openai" else self.gateway_url

    @property
    def primary(self) -> str:
        return f"{MODEL_PROVIDER_ID}/{self.models[0][0]}"


def _model_row(model_id: str, model: CatalogModel, api: ModelApi) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": model_id,
        "name": model_id,
        "reasoning": False,
        "input": ["text"],
        "cost": {
            "input": float(model.input_usd_per_mtok),
            "output": float(model.output_usd_per_mtok),
            "cacheRead": 0,
            "cacheWrite": 0,
        },
        "contextWindow": CONTEXT_WINDOW,
        "maxTokens": MAX_TOKENS,
    }
    if api == "openai":
        # The model gateway always reports usage on streams (it meters from it).
        row["compat"] = {"supportsUsageInStreaming": True}
    return row


def model_providers(route: ModelRoute) -> dict[str, Any]:
    """`models`: the model gateway as the only provider, authenticated with the virtual key."""
    return {
        "providers": {
            MODEL_PROVIDER_ID: {
                "baseUrl": route.base_url,
                "api": ADAPTER[route.api],
                "apiKey": f"${{{MODEL_KEY_ENV}}}",
                # The gateway is on a private address (a tenant network or the cluster's Service range).
                "request": {"allowPrivateNetwork": True},
                "models": [_model_row(model_id, model, route.api) for model_id, model in route.models],
            }
        }
    }


def gateway_config(
    public_url: str, trusted_proxies: Sequence[str], route: ModelRoute, profile: Profile = "standard"
) -> dict[str, Any]:
    """openclaw.json for a hosted tenant; the token and the model key themselves stay in the environment.

    Its models come only from the model gateway. The gateway's own OpenAI-compatible endpoint is on,
    behind the tenant's token. The lean profile loads only the plugins a hosted tenant uses, instead
    of every bundled one; either way the plugins with provider side channels are turned off.
    """
    # `{enabled: false}` is OpenClaw's explicit "off" marker: kept even where the plugin is not bundled.
    plugins: dict[str, Any] = {"entries": {plugin: {"enabled": False} for plugin in CLOSED_PLUGINS}}
    if profile == "lean":
        plugins["allow"] = sorted(LEAN_PLUGINS)
    return {
        "gateway": {
            "mode": "local",
            "bind": "lan",
            "port": PORT,
            "auth": {"mode": "token"},
            "controlUi": {"allowedOrigins": [public_url]},
            "trustedProxies": list(trusted_proxies),
            "http": {"endpoints": {"chatCompletions": {"enabled": True}}},
        },
        "models": model_providers(route),
        "agents": {"defaults": {"model": {"primary": route.primary}}},
        "plugins": plugins,
    }


def render_config(config: Mapping[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"
