"""The per-client token bucket, in the API and on its own."""

from __future__ import annotations

from fastapi.testclient import TestClient

from harness.fake_runner import FakeRunner
from harness.signup_service import AUTH
from signup.app import create_app
from signup.config import ServiceConfig
from signup.ratelimit import RateLimiter
from signup.store import SqliteJobStore

from .conftest import BILLING, with_config


def test_a_client_over_its_rate_gets_429_with_retry_after(
    config: ServiceConfig, store: SqliteJobStore, runner: FakeRunner
) -> None:
    app = create_app(with_config(config, rate_limit_rps=0.5, rate_limit_burst=3), store, runner)
    with TestClient(app, headers=AUTH) as operator, TestClient(app, headers=BILLING) as billing:
        assert [operator.get("/v1/tenants/acme").status_code for _ in range(3)] == [200, 200, 200]
        limited = operator.get("/v1/tenants/acme")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert limited.headers["Retry-After"] == "2"
        # Another client has its own bucket.
        assert billing.get("/v1/tenants/acme").status_code == 200


def test_token_guessing_is_rate_limited_per_address(
    config: ServiceConfig, store: SqliteJobStore, runner: FakeRunner
) -> None:
    app = create_app(with_config(config, rate_limit_rps=0.1, rate_limit_burst=2), store, runner)
    with TestClient(app, headers={"Authorization": "Bearer guess-0123456789abcdef"}) as guesser:
        assert [guesser.get("/v1/tenants/acme").status_code for _ in range(4)] == [401, 401, 429, 429]


def test_the_bucket_refills_at_its_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(2.0, 2, clock=lambda: now[0])
    assert [limiter.acquire("a"), limiter.acquire("a")] == [0.0, 0.0]
    assert limiter.acquire("a") == 0.5
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("b") == 0.0
    now[0] += 60
    assert [limiter.acquire("a"), limiter.acquire("a"), limiter.acquire("a") > 0] == [0.0, 0.0, True]
