"""Per-tenant request and token rates over a sliding minute, in memory (the proxy runs one worker)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_S = 60.0


@dataclass
class _Window:
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    token_sum: int = 0

    def expire(self, now: float) -> None:
        horizon = now - WINDOW_S
        while self.requests and self.requests[0] <= horizon:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= horizon:
            self.token_sum -= self.tokens.popleft()[1]


class RateLimiter:
    """Admits a request when the tenant's last minute holds fewer than rpm requests and tpm tokens."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def _window(self, tenant: str) -> _Window:
        window = self._windows.get(tenant)
        if window is None:
            window = self._windows[tenant] = _Window()
        return window

    def admit(self, tenant: str, rpm: int, tpm: int) -> str | None:
        """Count the request and return None, or return why it is refused (nothing counted)."""
        now = self._clock()
        window = self._window(tenant)
        window.expire(now)
        if len(window.requests) >= rpm:
            retry = max(1, int(window.requests[0] + WINDOW_S - now + 1))
            return f"rate limit of {rpm} requests per minute reached; retry in {retry} s"
        if window.token_sum >= tpm:
            retry = max(1, int(window.tokens[0][0] + WINDOW_S - now + 1))
            return f"rate limit of {tpm} tokens per minute reached; retry in {retry} s"
        window.requests.append(now)
        return None

    def spend_tokens(self, tenant: str, tokens: int) -> None:
        if tokens <= 0:
            return
        window = self._window(tenant)
        window.tokens.append((self._clock(), tokens))
        window.token_sum += tokens
