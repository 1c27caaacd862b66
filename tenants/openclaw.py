"""The OpenClaw gateway's runtime contract (openclaw 2026.9.x), kept in one module for version bumps."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .contract import GATEWAY_TOKEN, PROVIDER_KEY, SecretRef
from .model import ModelProvider, Profile

PORT = 18789
UID = 1000
GID = 1000
HOME = "/home/node"
STATE_DIR = f"{HOME}/.openclaw"
# The config lives inside the state dir: the gateway creates media/ beside it, so it must be writable.
CONFIG_PATH = f"{STATE_DIR}/openclaw.json"
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

TOKEN_ENV = "OPENCLAW_GATEWAY_TOKEN"
PROVIDER_KEY_ENV: Mapping[ModelProvider, str] = {
    "kimi": "MOONSHOT_API_KEY",
    "minimax": "MINIMAX_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
}

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
        "XDG_CACHE_HOME": f"{STATE_DIR}/cache",
        "OPENCLAW_DISABLE_BONJOUR": "1",
        "OPENCLAW_NO_AUTO_UPDATE": "1",
        "NODE_OPTIONS": f"--max-old-space-size={heap_mib(memory_mib)}",
    }


def secret_environment(provider: ModelProvider) -> dict[str, SecretRef]:
    """Which generated secret fills which variable: the token always, the provider's key by its name."""
    return {TOKEN_ENV: GATEWAY_TOKEN, PROVIDER_KEY_ENV[provider]: PROVIDER_KEY}


# Bundled provider plugins by model provider; Kimi's (Moonshot) is not bundled with the gateway.
PROVIDER_PLUGIN: Mapping[ModelProvider, str | None] = {
    "kimi": None,
    "minimax": "minimax",
    "anthropic": "anthropic",
    "openai": "openai",
    "openrouter": "openrouter",
}
# What a hosted tenant needs of the bundled plugins in the lean profile: memory and device pairing.
LEAN_PLUGINS: tuple[str, ...] = ("memory-core", "device-pair")


def gateway_config(
    public_url: str, trusted_proxies: Sequence[str], provider: ModelProvider, profile: Profile = "standard"
) -> dict[str, Any]:
    """openclaw.json for a hosted tenant; the token itself stays in the environment.

    The lean profile loads only the plugins a hosted tenant uses, instead of every bundled one.
    """
    config: dict[str, Any] = {
        "gateway": {
            "mode": "local",
            "bind": "lan",
            "port": PORT,
            "auth": {"mode": "token"},
            "controlUi": {"allowedOrigins": [public_url]},
            "trustedProxies": list(trusted_proxies),
        }
    }
    if profile == "lean":
        plugin = PROVIDER_PLUGIN[provider]
        config["plugins"] = {"allow": sorted({*LEAN_PLUGINS, *([plugin] if plugin else [])})}
    return config


def render_config(config: Mapping[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"
