"""The ASGI application the gateway serves: LiteLLM's proxy behind a gate that knows only the tenant API.

LiteLLM's app carries many more routes (admin, keys, spend, UI, docs, metrics), some of which answer
without calling the auth hook at all. The gate answers 404 for every path outside the tenant API
and the two health probes before LiteLLM sees the request. On model routes it also refuses (400)
headers and body fields that would choose the upstream, before LiteLLM's own body checks answer
them as an authentication error; the auth hook then checks key, route, body, budget and rates.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from model_gateway.policy import MODEL_ROUTES, PUBLIC_ROUTES, TENANT_ROUTES, RefusalError, check_fields, check_headers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = TENANT_ROUTES | PUBLIC_ROUTES
MAX_BODY_BYTES = 64 * 2**20


def error_body(status: int, message: str, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": str(status)}}).encode()


async def respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def screen(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Raise RefusalError when a header or a top-level body field tries to choose the upstream."""
    check_headers(name.decode("latin-1") for name, _ in headers)
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return  # not JSON: LiteLLM answers it
    if isinstance(document, dict):
        check_fields(document)


class RouteGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket" and scope.get("path") not in OPEN_PATHS:
            await send({"type": "websocket.close", "code": 1008})
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path")
        if path not in OPEN_PATHS:
            await respond(send, 404, error_body(404, "not found", "not_found_error"))
            return
        if path not in MODEL_ROUTES or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await respond(send, 413, error_body(413, "request body too large", "invalid_request_error"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            screen(scope.get("headers", []), body)
        except RefusalError as refused:
            await respond(send, refused.status, error_body(refused.status, refused.message, "invalid_request_error"))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def build() -> ASGIApp:
    """LiteLLM's app (imported only here, in the proxy process) behind the gate."""
    from litellm.proxy.proxy_server import app as litellm_app

    return RouteGate(litellm_app)
