"""Fake servers of the test world: each answers HTTP with its own name on one address and port.

Run inside a network namespace the test made (``python -m harness.fake_hosts NAME=IP:PORT ...``),
so a probe that reaches one of them says which it reached. Stops on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_LIFETIME_S = 3600.0  # a test that dies leaves no server behind for longer


def handler_for(name: str) -> type[BaseHTTPRequestHandler]:
    body = name.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads what the probes saw, not the server's log."""

    return Handler


def serve(specs: list[str]) -> None:
    servers = []
    for spec in specs:
        name, _, where = spec.partition("=")
        address, _, port = where.rpartition(":")
        server = ThreadingHTTPServer((address, int(port)), handler_for(name))
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait(timeout=MAX_LIFETIME_S)
    for server in servers:
        server.shutdown()


if __name__ == "__main__":
    serve(sys.argv[1:])
