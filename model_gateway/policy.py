"""What a tenant's request may be: its route, its headers and its body, checked before any upstream call.

A tenant names a model and sends messages; everything that would choose the upstream, its
credentials, the routing or the attribution stays with the gateway.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from model_gateway.registry import TenantEntry

# The tenant-facing API; every other route (admin, keys, spend, config, UI, docs) is refused.
TENANT_ROUTES: Final = frozenset({"/v1/chat/completions", "/chat/completions", "/v1/models", "/models", "/v1/messages"})
# Answered without a key: LiteLLM's own probes.
PUBLIC_ROUTES: Final = frozenset({"/health/liveliness", "/health/readiness"})
MODEL_ROUTES: Final = frozenset({"/v1/chat/completions", "/chat/completions", "/v1/messages"})

# Body fields through which LiteLLM lets a caller pick the upstream, its credentials or the routing.
REFUSED_BODY_FIELDS: Final = frozenset(
    {
        "api_base",
        "base_url",
        "api_key",
        "api_version",
        "api_type",
        "organization",
        "custom_llm_provider",
        "deployment_id",
        "extra_headers",
        "headers",
        "user_config",
        "model_list",
        "fallbacks",
        "context_window_fallbacks",
        "content_policy_fallbacks",
        "mock_response",
        "mock_tool_calls",
        "input_cost_per_token",
        "output_cost_per_token",
        "region_name",
        "project",
        "location",
        "credentials",
    }
)
REFUSED_BODY_PREFIXES: Final = ("aws_", "vertex_", "azure_", "litellm_", "mock_", "watsonx_")
# Headers LiteLLM reads for routing, call ids, credentials or attribution.
REFUSED_HEADER_PREFIXES: Final = ("x-litellm-", "litellm-", "x-api-base", "api-base", "x-base-url")
REFUSED_HEADERS: Final = frozenset({"litellm_user_api_key", "openai-organization", "anthropic-base-url"})


@dataclass(frozen=True)
class RefusalError(Exception):
    """A request the gateway will not serve, with the HTTP status and a message for a person."""

    status: int
    message: str

    def __str__(self) -> str:
        return self.message


def presented_key(headers: Mapping[str, str]) -> str:
    """The virtual key a client sent: `Authorization: Bearer <key>`, else `x-api-key` (Anthropic style)."""
    authorization = headers.get("authorization", "").strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else ""
    return headers.get("x-api-key", "").strip()


def check_route(route: str) -> None:
    if route not in TENANT_ROUTES:
        raise RefusalError(403, f"route {route} is not open to tenant keys")


def check_headers(names: Iterable[str]) -> None:
    for name in names:
        lowered = name.lower()
        if lowered in REFUSED_HEADERS or lowered.startswith(REFUSED_HEADER_PREFIXES):
            raise RefusalError(400, f"header {name} is not accepted: the gateway chooses the upstream")


def check_fields(names: Iterable[str]) -> None:
    """Body fields or query parameters: none may choose the upstream, its key or the routing."""
    for field in names:
        if field in REFUSED_BODY_FIELDS or field.startswith(REFUSED_BODY_PREFIXES):
            raise RefusalError(400, f"field {field!r} is not accepted: the gateway chooses the upstream")


def check_body(body: Mapping[str, object], tenant: TenantEntry, known_models: Container[str]) -> str:
    """The model the call may use; refuses upstream overrides and models outside the tenant's allowlist."""
    check_fields(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RefusalError(400, "the request names no model")
    if model not in tenant.models or model not in known_models:
        raise RefusalError(403, f"model {model!r} is not in this key's allowlist")
    return model
