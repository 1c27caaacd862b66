"""A stand-in for the model providers: OpenAI-style and Anthropic-style chat APIs, streaming and not.

Token counts are a pure function of the request (one input token per word of the prompt, a reply
whose length follows from that), so a test can check a ledger against exactly what this upstream
reported. Every call is remembered with the credentials it carried, so a test can prove the gateway
sent the master key and the tenant never held it.

Standard library only: it runs as `python3 -m harness.fake_upstream --port 8080` or, copied into a
container, as `python3 fake_upstream.py --port 8080`. `GET /_calls` lists the calls seen,
`DELETE /_calls` forgets them, `GET /_health` answers 200.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
ANTHROPIC_PATHS = frozenset({"/v1/messages", "/messages"})
REPLY_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def _words(content: object) -> int:
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(_words(part.get("text", "")) for part in content if isinstance(part, dict))
    return 0


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """Input tokens this upstream reports for a request: the words of every message and the system prompt."""
    messages = body.get("messages")
    total = _words(body.get("system", ""))
    if isinstance(messages, list):
        total += sum(_words(m.get("content", "")) for m in messages if isinstance(m, dict))
    return max(total, 1)


def reply_words(input_tokens: int) -> list[str]:
    """The reply: 3 to 9 words, one output token each."""
    return list(REPLY_WORDS[: 3 + input_tokens % 7])


class Calls:
    """What the upstream saw, in order; shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[dict[str, Any]] = []

    def add(self, call: dict[str, Any]) -> None:
        with self._lock:
            self._calls.append(call)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


def _sse(event: Mapping[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(event)}\n\n".encode()


def openai_body(model: str, words: list[str], input_tokens: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": input_tokens,
            "completion_tokens": len(words),
            "total_tokens": input_tokens + len(words),
        },
    }


def openai_stream(model: str, words: list[str], input_tokens: int, include_usage: bool) -> Iterator[bytes]:
    ident = f"chatcmpl-{uuid.uuid4().hex[:12]}"
    base = {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    yield _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for i, word in enumerate(words):
        text = word if i == 0 else f" {word}"
        yield _sse({**base, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})
    yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": len(words),
            "total_tokens": input_tokens + len(words),
        }
        yield _sse({**base, "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"


def anthropic_body(model: str, words: list[str], input_tokens: int) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": " ".join(words)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": len(words)},
    }


def anthropic_stream(model: str, words: list[str], input_tokens: int) -> Iterator[bytes]:
    message = anthropic_body(model, [], input_tokens)
    message["usage"] = {"input_tokens": input_tokens, "output_tokens": 1}
    message["stop_reason"] = None
    yield _sse({"type": "message_start", "message": message}, "message_start")
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    yield _sse(block, "content_block_start")
    for i, word in enumerate(words):
        delta = {"type": "text_delta", "text": word if i == 0 else f" {word}"}
        yield _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": len(words)},
    }
    yield _sse(end, "message_delta")
    yield _sse({"type": "message_stop"}, "message_stop")


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-upstream/1"
    protocol_version = "HTTP/1.1"
    # Headers and body are separate writes; with Nagle's algorithm a kept-alive client would wait
    # for its delayed ACK (~40 ms) on every call, which is no provider's behaviour.
    disable_nagle_algorithm = True
    calls: Calls

    def log_message(self, format: str, *args: Any) -> None:
        del format, args

    def _json(self, status: int, value: object) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/_health":
            self._json(200, {"ok": True})
        elif self.path == "/_calls":
            self._json(200, self.calls.snapshot())
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_DELETE(self) -> None:
        if self.path == "/_calls":
            self.calls.clear()
            self._json(200, {"ok": True})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "body is not JSON"}})
            return
        path = self.path.split("?", 1)[0]
        if path not in OPENAI_PATHS | ANTHROPIC_PATHS or not isinstance(body, dict):
            self._json(404, {"error": {"message": f"no route {path}"}})
            return
        style = "openai" if path in OPENAI_PATHS else "anthropic"
        model = str(body.get("model", ""))
        input_tokens = prompt_tokens(body)
        words = reply_words(input_tokens)
        stream = bool(body.get("stream"))
        options = body.get("stream_options")
        include_usage = (
            style == "anthropic"
            or (stream and isinstance(options, dict) and bool(options.get("include_usage")))
            or not stream
        )
        self.calls.add(
            {
                "style": style,
                "path": path,
                "model": model,
                "stream": stream,
                "authorization": self.headers.get("authorization"),
                "x_api_key": self.headers.get("x-api-key"),
                "input_tokens": input_tokens,
                "output_tokens": len(words),
                "usage_reported": include_usage,
                "user": body.get("user"),
            }
        )
        if not stream:
            make = openai_body if style == "openai" else anthropic_body
            self._json(200, make(model, words, input_tokens))
            return
        chunks = (
            openai_stream(model, words, input_tokens, include_usage)
            if style == "openai"
            else anthropic_stream(model, words, input_tokens)
        )
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # fifty clients at once must not wait for a SYN retry


def serve(host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to (host, port), not yet serving; `serve_forever` it in a thread or the main loop."""
    handler = type("BoundHandler", (Handler,), {"calls": Calls()})
    server = Server((host, port), handler)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    serve(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
