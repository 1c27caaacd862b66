"""LiteLLM callbacks that meter every call from the upstream's own usage, durably, before the answer.

- `async_pre_call_hook` forces usage reporting on streamed chat calls, whatever the client asked.
- `async_post_call_success_hook` runs in the request handler after the upstream answered and before
  LiteLLM serialises the response, so the ledger write finishes before the tenant gets a byte.
- `async_post_call_streaming_iterator_hook` wraps the stream the handler sends: the call is recorded
  when the upstream's stream ends, before LiteLLM appends `data: [DONE]` (OpenAI style) and before
  the held-back `message_stop` event (Anthropic style) goes out, so no stream ends unrecorded.
A failed ledger write fails the call rather than serve it unmetered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth

from model_gateway.runtime import gatekeeper
from model_gateway.usage_counts import TokenCount, is_stream_end

STREAM_USAGE_CALL_TYPES = frozenset({"acompletion", "completion"})


def _call(data: Mapping[str, Any], user: UserAPIKeyAuth) -> tuple[str, str, str]:
    tenant = user.user_id
    model = data.get("model")
    request_id = data.get("litellm_call_id")
    if not tenant or not isinstance(model, str) or not isinstance(request_id, str):
        raise RuntimeError("a call reached the usage hooks without a tenant, model or call id")
    return tenant, model, request_id


async def _record(data: Mapping[str, Any], user: UserAPIKeyAuth, counts: TokenCount) -> None:
    tenant, model, request_id = _call(data, user)
    await asyncio.to_thread(gatekeeper().meter, tenant, model, counts, request_id)


class UsageRecorder(CustomLogger):  # type: ignore[misc]
    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        if data.get("stream") and call_type in STREAM_USAGE_CALL_TYPES:
            options = data.get("stream_options")
            data["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return data

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: UserAPIKeyAuth, response: Any
    ) -> Any:
        counts = TokenCount()
        counts.absorb(response)
        await _record(data, user_api_key_dict, counts)
        return None

    async def async_post_call_streaming_iterator_hook(
        self, user_api_key_dict: UserAPIKeyAuth, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        counts = TokenCount()
        held: list[Any] = []
        attempted = False
        try:
            async for item in response:
                counts.absorb(item)
                if is_stream_end(item):
                    held.append(item)
                    continue
                yield item
            attempted = True
            await _record(request_data, user_api_key_dict, counts)
            for item in held:
                yield item
        finally:
            # A client that hangs up mid-stream is still charged for what the upstream reported so far.
            if not attempted and counts.seen:
                await _record(request_data, user_api_key_dict, counts)


usage_recorder = UsageRecorder()
