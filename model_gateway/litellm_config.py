"""LiteLLM's proxy configuration, generated from gateway.json.

One model_list entry per model id: the upstream's model name under LiteLLM's OpenAI-compatible or
Anthropic provider, the upstream's base URL, and the master key by reference to its environment
variable (`os.environ/<NAME>`), so no key value is ever written to a file. The file is JSON, which
LiteLLM's YAML loader reads as it is. The auth function and the usage hooks are named through a
small module beside the config, because LiteLLM loads such names from the config's own directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from model_gateway.prices import ModelRoute

ENTRY_MODULE: Final = "gateway_entry"
ENTRY_SOURCE: Final = (
    '"""The names LiteLLM loads from the config directory, taken from the installed package."""\n'
    "from model_gateway.auth import authenticate\n"
    "from model_gateway.hooks import usage_recorder\n"
    '__all__ = ["authenticate", "usage_recorder"]\n'
)
LITELLM_PROVIDER: Final = {"openai": "openai", "anthropic": "anthropic"}

# LiteLLM must never call out on its own, keep state elsewhere, or serve anything but the proxy.
PROXY_ENVIRONMENT: Final = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_LOG": "ERROR",
    "LITELLM_TELEMETRY": "False",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
    "DISABLE_SCHEMA_UPDATE": "True",
    "USE_PRISMA_MIGRATE": "False",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
# Variables that would make LiteLLM open a database, a cache, a license check or a remote config.
UNSET_ENVIRONMENT: Final = (
    "DATABASE_URL",
    "DIRECT_URL",
    "REDIS_HOST",
    "REDIS_URL",
    "LITELLM_MASTER_KEY",
    "LITELLM_LICENSE",
    "LITELLM_CONFIG_BUCKET_NAME",
    "STORE_MODEL_IN_DB",
)


def model_entry(route: ModelRoute) -> dict[str, Any]:
    return {
        "model_name": route.model_id,
        "litellm_params": {
            "model": f"{LITELLM_PROVIDER[route.api]}/{route.upstream_model}",
            "api_base": route.api_base,
            "api_key": f"os.environ/{route.key_env}",
        },
        "model_info": {
            "id": route.model_id,
            "input_cost_per_token": float(route.input_usd_per_mtok / 1_000_000),
            "output_cost_per_token": float(route.output_usd_per_mtok / 1_000_000),
        },
    }


def proxy_config(routes: Mapping[str, ModelRoute]) -> dict[str, Any]:
    """The whole config.yaml as a value."""
    return {
        "model_list": [model_entry(routes[model_id]) for model_id in sorted(routes)],
        "litellm_settings": {
            "telemetry": False,
            "drop_params": True,
            "callbacks": [f"{ENTRY_MODULE}.usage_recorder"],
            "num_retries": 0,
            "request_timeout": 600,
            # Anthropic-style calls to OpenAI-compatible upstreams go to /chat/completions, which
            # every such provider serves, not to OpenAI's own Responses API.
            "use_chat_completions_url_for_anthropic_messages": True,
        },
        "general_settings": {
            "custom_auth": f"{ENTRY_MODULE}.authenticate",
            "always_include_stream_usage": True,
            "disable_spend_logs": True,
            "disable_adding_master_key_hash_to_db": True,
            "allow_requests_on_db_unavailable": False,
            "store_model_in_db": False,
            "background_health_checks": False,
            "disable_reset_budget": True,
        },
        "router_settings": {"num_retries": 0},
    }


def write_proxy_config(routes: Mapping[str, ModelRoute], directory: Path) -> Path:
    """Write config.yaml and the entry module into ``directory``; returns the config's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{ENTRY_MODULE}.py").write_text(ENTRY_SOURCE, encoding="utf-8")
    config = directory / "config.yaml"
    config.write_text(json.dumps(proxy_config(routes), indent=2) + "\n", encoding="utf-8")
    return config


def proxy_environment(environ: Mapping[str, str], config: Path) -> dict[str, str]:
    """The proxy process's environment: the caller's, minus what would widen it, plus the fixed settings."""
    env = {name: value for name, value in environ.items() if name not in UNSET_ENVIRONMENT}
    env.update(PROXY_ENVIRONMENT)
    env["CONFIG_FILE_PATH"] = str(config)
    return env
