"""Talk to tenant gateways through the edge proxy on 127.0.0.1, as a customer would, or with the official CLI
inside a gateway's own container."""

from __future__ import annotations

import http.client
import json
import socket
import uuid
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from tenants.openclaw import PORT, WORKDIR

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Reply:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def http_get(port: int, host: str, path: str, headers: Mapping[str, str] | None = None) -> Reply:
    """GET through the edge proxy with a given Host header; only ever connects to 127.0.0.1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return Reply(response.status, response.read().decode(errors="replace"))
    finally:
        conn.close()


def started(port: int, host: str) -> bool:
    """The gateway behind ``host`` answers `/startupz` with "started" (its JSON, not the UI's 200 page)."""
    try:
        reply = http_get(port, host, "/startupz")
    except OSError:
        return False
    return reply.status == 200 and reply.json().get("status") == "started"


@dataclass(frozen=True)
class Handshake:
    """Outcome of the gateway protocol's connect handshake."""

    accepted: bool
    detail: str


def _connect_params(token: str | None) -> dict[str, Any]:
    """The gateway protocol's `connect` request of an operator client, authenticated by ``token``."""
    params: dict[str, Any] = {
        "minProtocol": 4,
        "maxProtocol": 4,
        "client": {"id": "cli", "version": "1.0.0", "platform": "linux", "mode": "cli"},
        "role": "operator",
        "scopes": ["operator.read"],
        "caps": [],
        "commands": [],
        "permissions": {},
        "locale": "en-US",
        "userAgent": "openclaw-tenants-e2e/1.0",
    }
    if token is not None:
        params["auth"] = {"token": token}
    return params


def ws_open(port: int, host: str, headers: Mapping[str, str] | None = None) -> ClientConnection:
    """An upgraded WebSocket via the proxy that has sent nothing yet (the caller closes it)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    try:
        return connect(f"ws://{host}/", sock=sock, open_timeout=TIMEOUT_S, close_timeout=2, additional_headers=headers)
    except BaseException:
        sock.close()
        raise


def ws_connect(port: int, host: str, token: str | None, headers: Mapping[str, str] | None = None) -> Handshake:
    """Open a WebSocket via the proxy and send the gateway's `connect` request with ``token``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    try:
        with connect(
            f"ws://{host}/", sock=sock, open_timeout=TIMEOUT_S, close_timeout=2, additional_headers=headers
        ) as ws:
            challenge = json.loads(ws.recv(timeout=TIMEOUT_S))
            if challenge.get("event") != "connect.challenge":
                return Handshake(False, f"unexpected first frame: {challenge}")
            request_id = str(uuid.uuid4())
            ws.send(
                json.dumps({"type": "req", "id": request_id, "method": "connect", "params": _connect_params(token)})
            )
            for _ in range(20):  # events may precede the reply; bounded
                frame = json.loads(ws.recv(timeout=TIMEOUT_S))
                if frame.get("type") == "res" and frame.get("id") == request_id:
                    ok = bool(frame.get("ok")) and frame.get("payload", {}).get("type") == "hello-ok"
                    return Handshake(ok, json.dumps(frame.get("error") or frame.get("payload", {}))[:300])
            return Handshake(False, "no reply to connect")
    except ConnectionClosed as exc:
        return Handshake(False, f"closed: {exc}")
    except InvalidStatus as exc:
        return Handshake(False, f"upgrade refused: HTTP {exc.response.status_code}")
    finally:
        sock.close()


class GatewaySession:
    """One authenticated WebSocket to a tenant's gateway through the edge, kept open across calls.

    What a customer's open Control UI is: proof that a change elsewhere in the fleet left this very
    connection (its socket, its gateway connection id) standing, not merely that a new one works.
    The client answers the gateway's keepalive pings in the background while the session is idle; its
    queue of unread events is unbounded, so a long idle spell never stops it reading (and answering).
    """

    def __init__(self, port: int, host: str, token: str) -> None:
        self._stack = ExitStack()
        try:
            sock = self._stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S))
            self._ws = self._stack.enter_context(
                connect(f"ws://{host}/", sock=sock, open_timeout=TIMEOUT_S, close_timeout=2, max_queue=None)
            )
            challenge = json.loads(self._ws.recv(timeout=TIMEOUT_S))
            if challenge.get("event") != "connect.challenge":
                raise ConnectionError(f"unexpected first frame: {challenge}")
            hello = self.call("connect", _connect_params(token))
            if not hello.get("ok") or hello.get("payload", {}).get("type") != "hello-ok":
                raise ConnectionError(f"connect refused: {json.dumps(hello.get('error'))[:300]}")
        except BaseException:
            self._stack.close()
            raise
        self.conn_id: str = hello["payload"]["server"]["connId"]

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and return its response frame; events in between are skipped (bounded)."""
        request_id = str(uuid.uuid4())
        self._ws.send(json.dumps({"type": "req", "id": request_id, "method": method, "params": params or {}}))
        for _ in range(1000):  # events may precede the reply; bounded
            frame: dict[str, Any] = json.loads(self._ws.recv(timeout=TIMEOUT_S * 3))
            if frame.get("type") == "res" and frame.get("id") == request_id:
                return frame
        raise TimeoutError(f"no response to {method}")

    @property
    def open(self) -> bool:
        return self._ws.state is State.OPEN

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> GatewaySession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def gateway_cli_call(container: Any, method: str, params: Mapping[str, Any]) -> Any:
    """One RPC of a gateway's own API, made by the official CLI inside the tenant's ``container`` (a Docker
    SDK container) with the tenant's own token: a loopback operator, as the customer's tools on the host are.
    Writes need a paired device, and the gateway approves a loopback CLI's device on first use."""
    script = (
        f"exec node {WORKDIR}/openclaw.mjs gateway call {method} --json --timeout 30000 "
        f"--port {PORT} --token \"$OPENCLAW_GATEWAY_TOKEN\" --params '{json.dumps(params)}'"
    )
    code, output = container.exec_run(["sh", "-c", script])
    text = output.decode(errors="replace") if isinstance(output, bytes) else ""
    if code != 0:
        raise RuntimeError(f"openclaw gateway call {method} failed (exit {code}): {text[-2000:]}")
    return json.loads(text[text.index("{") :])


def workspace_file(container: Any, name: str = "AGENTS.md") -> str | None:
    """The content of the main agent's workspace file ``name``, as the gateway reads it; None: it has none."""
    found = gateway_cli_call(container, "agents.files.get", {"agentId": "main", "name": name})["file"]
    return None if found.get("missing") else str(found.get("content"))
