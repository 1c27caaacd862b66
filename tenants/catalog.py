"""Built-in plans, channels and models: the one place their defaults live.

A fleet file may override any field of a built-in plan or model, or define new ones; its sections
are merged over these before validation. Model prices are this catalog's defaults (list prices in
USD per million tokens); a fleet's ``models:`` section overrides them for what the operator pays.
"""

from __future__ import annotations

from typing import Any

# Where each provider's public API lives and which environment variable carries its master key in
# the model gateway (never in a tenant). `api` is the style the gateway speaks to that upstream.
PROVIDER_UPSTREAMS: dict[str, dict[str, str]] = {
    "kimi": {"api_base": "https://api.moonshot.ai/v1", "key_env": "KIMI_API_KEY", "api": "openai"},
    "minimax": {"api_base": "https://api.minimax.io/anthropic", "key_env": "MINIMAX_API_KEY", "api": "anthropic"},
    "anthropic": {"api_base": "https://api.anthropic.com", "key_env": "ANTHROPIC_API_KEY", "api": "anthropic"},
    "openai": {"api_base": "https://api.openai.com/v1", "key_env": "OPENAI_API_KEY", "api": "openai"},
    "openrouter": {"api_base": "https://openrouter.ai/api/v1", "key_env": "OPENROUTER_API_KEY", "api": "openai"},
}


def _model(provider: str, upstream_model: str, input_usd: str, output_usd: str) -> dict[str, str]:
    return {
        "provider": provider,
        "upstream_model": upstream_model,
        "api": PROVIDER_UPSTREAMS[provider]["api"],
        "input_usd_per_mtok": input_usd,
        "output_usd_per_mtok": output_usd,
    }


# Model id (what tenants ask for) → provider, the name the upstream knows, and default prices.
BUILTIN_MODELS: dict[str, dict[str, str]] = {
    "kimi-k2.6": _model("kimi", "kimi-k2.6", "0.60", "2.50"),
    "kimi-k3": _model("kimi", "kimi-k3", "1.00", "4.00"),
    "minimax-m2.7": _model("minimax", "MiniMax-M2.7", "0.30", "1.20"),
    "minimax-m3": _model("minimax", "MiniMax-M3", "0.50", "2.00"),
    "claude-haiku-4-5": _model("anthropic", "claude-haiku-4-5", "1.00", "5.00"),
    "claude-sonnet-4-6": _model("anthropic", "claude-sonnet-4-6", "3.00", "15.00"),
    "claude-opus-4-6": _model("anthropic", "claude-opus-4-6", "5.00", "25.00"),
    "gpt-5-mini": _model("openai", "gpt-5-mini", "0.25", "2.00"),
    "gpt-5.5": _model("openai", "gpt-5.5", "1.25", "10.00"),
    "openrouter-kimi-k2.6": _model("openrouter", "moonshotai/kimi-k2.6", "0.60", "2.50"),
    "openrouter-auto": _model("openrouter", "openrouter/auto", "3.00", "15.00"),
}

# Allowlists: each plan lets every provider's tenants use at least one model; the first model of a
# tenant's provider in its plan's list is the tenant's default model.
BASIC_MODELS = ("kimi-k2.6", "minimax-m2.7", "claude-haiku-4-5", "gpt-5-mini", "openrouter-kimi-k2.6")
PRO_MODELS = (*BASIC_MODELS, "kimi-k3", "minimax-m3", "claude-sonnet-4-6", "gpt-5.5", "openrouter-auto")
ENTERPRISE_MODELS = (*PRO_MODELS, "claude-opus-4-6")

BUILTIN_PLANS: dict[str, dict[str, Any]] = {
    # An idle gateway uses ~650 MiB; upstream recommends 2 GiB, and 512 MiB is too small.
    "basic": {
        "cpus": 1,
        "memory_gib": 2,
        "storage_gib": 5,
        "max": {
            "cpus": 2,
            "memory_gib": 4,
            "storage_gib": 20,
            "model_budget_usd": "20.00",
            "model_rpm": 60,
            "model_tpm": 200_000,
        },
        "pids_limit": 512,
        "rate_limit_rps": 10,
        "burst": 20,
        "monthly_price": "29.00",
        "model_budget_usd": "5.00",
        "model_rpm": 30,
        "model_tpm": 100_000,
        "models": list(BASIC_MODELS),
    },
    "pro": {
        "cpus": 2,
        "memory_gib": 4,
        "storage_gib": 20,
        "max": {
            "cpus": 4,
            "memory_gib": 8,
            "storage_gib": 100,
            "model_budget_usd": "100.00",
            "model_rpm": 300,
            "model_tpm": 1_000_000,
        },
        "pids_limit": 1024,
        "rate_limit_rps": 30,
        "burst": 60,
        "monthly_price": "99.00",
        "model_budget_usd": "25.00",
        "model_rpm": 120,
        "model_tpm": 400_000,
        "models": list(PRO_MODELS),
    },
    "enterprise": {
        "cpus": 4,
        "memory_gib": 8,
        "storage_gib": 100,
        "max": {
            "cpus": 16,
            "memory_gib": 32,
            "storage_gib": 1000,
            "model_budget_usd": "1000.00",
            "model_rpm": 3000,
            "model_tpm": 10_000_000,
        },
        "pids_limit": 2048,
        "rate_limit_rps": 100,
        "burst": 200,
        "monthly_price": "499.00",
        "model_budget_usd": "150.00",
        "model_rpm": 600,
        "model_tpm": 2_000_000,
        "models": list(ENTERPRISE_MODELS),
    },
}

# Plain OpenClaw version tags are immutable; each channel pins one.
BUILTIN_CHANNELS: dict[str, str] = {
    "stable": "2026.9.6",
    "canary": "2026.9.6",
}
