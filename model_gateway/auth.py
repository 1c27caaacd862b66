"""LiteLLM's custom auth hook (`general_settings.custom_auth`): every request's key, route and body.

Raising LiteLLM's ProxyException keeps the status code (401, 403, 400, 429) and sends the message
as an OpenAI-style error body, which OpenClaw shows its user.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from litellm.proxy._types import ProxyException, UserAPIKeyAuth
from litellm.proxy.auth.auth_utils import get_request_route
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

from model_gateway.policy import MODEL_ROUTES, PUBLIC_ROUTES, RefusalError
from model_gateway.runtime import gatekeeper

ERROR_TYPES = {400: "invalid_request_error", 401: "auth_error", 403: "permission_error", 429: "rate_limit_error"}


def refusal_exception(refused: RefusalError) -> ProxyException:
    return ProxyException(
        message=refused.message,
        type=ERROR_TYPES.get(refused.status, "auth_error"),
        param=None,
        code=refused.status,
    )


async def authenticate(request: Request, api_key: str) -> UserAPIKeyAuth:
    """The tenant behind the request, or a refusal; LiteLLM's own key parsing (`api_key`) is not trusted."""
    del api_key
    route = get_request_route(request)
    if route in PUBLIC_ROUTES:
        return UserAPIKeyAuth()
    body: dict[str, Any] | None = await _read_request_body(request) if route in MODEL_ROUTES else None
    try:
        admitted = gatekeeper().admit(route, request.headers, body, request.query_params.keys())
    except RefusalError as refused:
        raise refusal_exception(refused) from None
    tenant = admitted.tenant
    return UserAPIKeyAuth(
        token=tenant.key_sha256,
        user_id=tenant.tenant,
        key_alias=tenant.tenant,
        models=sorted(tenant.models),
        metadata={"openclaw_tenant": tenant.tenant},
    )
