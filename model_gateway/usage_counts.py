"""Token counts as the upstream reported them, read from any shape a response or stream chunk takes.

OpenAI-style responses carry `usage.prompt_tokens` / `completion_tokens`; Anthropic-style ones
`usage.input_tokens` / `output_tokens` (cache reads and writes are billed as input), on the message,
on `message_start` and, cumulatively, on `message_delta`. Streamed chunks arrive as objects, dicts
or raw SSE bytes depending on the route.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass
class TokenCount:
    """Running counts for one call; a later report of a field replaces an earlier one (streams are cumulative)."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def seen(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None

    def absorb_usage(self, usage: Mapping[str, object]) -> None:
        prompt = _int(usage.get("prompt_tokens"))
        completion = _int(usage.get("completion_tokens"))
        anthropic_input = [_int(usage.get(name)) for name in INPUT_FIELDS]
        if prompt is not None:
            self.input_tokens = prompt
        elif any(value is not None for value in anthropic_input):
            total = sum(value or 0 for value in anthropic_input)
            # message_delta may repeat the input as 0; keep what message_start said.
            if total or self.input_tokens is None:
                self.input_tokens = total
        if completion is not None:
            self.output_tokens = completion
        elif (output := _int(usage.get("output_tokens"))) is not None:
            self.output_tokens = output

    def absorb_event(self, event: Mapping[str, object]) -> None:
        """One response body or stream event as a dict."""
        usage = event.get("usage")
        if isinstance(usage, Mapping):
            self.absorb_usage(usage)
        message = event.get("message")
        if isinstance(message, Mapping) and isinstance(message.get("usage"), Mapping):
            self.absorb_usage(message["usage"])

    def absorb_sse(self, text: str) -> None:
        """Raw server-sent events: every `data:` line that holds a JSON object mentioning usage."""
        for line in text.splitlines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if not payload.startswith("{") or "usage" not in payload:
                continue  # most events (text deltas, pings) carry no counts: not worth parsing
            try:
                event = json.loads(payload)
            except ValueError:
                continue
            if isinstance(event, dict):
                self.absorb_event(event)

    def absorb(self, item: object) -> None:
        """Whatever LiteLLM hands over: a pydantic object, a dict, SSE bytes or text."""
        if isinstance(item, bytes | bytearray):
            self.absorb_sse(bytes(item).decode("utf-8", "replace"))
        elif isinstance(item, str):
            self.absorb_sse(item)
        elif isinstance(item, Mapping):
            self.absorb_event(item)
        else:
            # Objects (LiteLLM's ModelResponse and stream chunks) carry usage as an attribute, mostly None.
            usage = getattr(item, "usage", None)
            if usage is None:
                return
            if not isinstance(usage, Mapping):
                dump = getattr(usage, "model_dump", None)
                usage = dump() if callable(dump) else None
            if isinstance(usage, Mapping):
                self.absorb_usage(usage)


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


STREAM_END = "message_stop"


def is_stream_end(item: object) -> bool:
    """The Anthropic-style event that tells a client the message is complete: its ``event:`` line or a
    data payload of that type, never model text that merely contains the word."""
    if isinstance(item, bytes | bytearray):
        item = bytes(item).decode(errors="replace")
    if isinstance(item, Mapping):
        return item.get("type") == STREAM_END
    if not isinstance(item, str):
        return False
    for raw in item.splitlines():
        line = raw.strip()
        if line == f"event: {STREAM_END}":
            return True
        if line.startswith("data:") and STREAM_END in line:
            try:
                payload = json.loads(line[5:])
            except ValueError:
                continue
            if isinstance(payload, Mapping) and payload.get("type") == STREAM_END:
                return True
    return False
