"""Talk to tenant gateways through the edge proxy on 127.0.0.1, as a customer would."""

from __future__ import annotations

import http.client
import json
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Reply:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def http_get(port: int, host: str, path: str) -> Reply:
    """GET through the edge proxy with a given Host header; only ever connects to 127.0.0.1."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("GET", path, headers={"Host": host})
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


def ws_connect(port: int, host: str, token: str | None) -> Handshake:
    """Open a WebSocket via the proxy and send the gateway's `connect` request with ``token``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    try:
        with connect(f"ws://{host}/", sock=sock, open_timeout=TIMEOUT_S, close_timeout=2) as ws:
            challenge = json.loads(ws.recv(timeout=TIMEOUT_S))
            if challenge.get("event") != "connect.challenge":
                return Handshake(False, f"unexpected first frame: {challenge}")
            request_id = str(uuid.uuid4())
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
            ws.send(json.dumps({"type": "req", "id": request_id, "method": "connect", "params": params}))
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
