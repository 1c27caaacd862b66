"""The model gateway's pure parts: registry, request policy, prices, rates, budgets, usage counts, config."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from model_gateway.app import RouteGate
from model_gateway.budget import SpendTracker, budget_message
from model_gateway.gatekeeper import Gatekeeper
from model_gateway.ledger import Usage
from model_gateway.limits import RateLimiter
from model_gateway.litellm_config import proxy_config, proxy_environment, write_proxy_config
from model_gateway.policy import RefusalError, check_body, check_headers, check_route, presented_key
from model_gateway.prices import GatewayConfigError, parse_gateway_config
from model_gateway.registry import RegistryError, RegistryFile, TenantEntry, key_digest, parse_registry
from model_gateway.usage_counts import TokenCount, is_stream_end

GATEWAY: dict[str, Any] = {
    "version": 1,
    "models": {
        "kimi-k2": {
            "provider": "kimi",
            "api": "openai",
            "upstream_model": "kimi-k2-0905-preview",
            "api_base": "http://upstream:8080/v1",
            "key_env": "KIMI_API_KEY",
            "input_usd_per_mtok": "0.60",
            "output_usd_per_mtok": "2.50",
        },
        "minimax-m2": {
            "provider": "minimax",
            "api": "anthropic",
            "upstream_model": "MiniMax-M2",
            "api_base": "http://upstream:8080",
            "key_env": "MINIMAX_API_KEY",
            "input_usd_per_mtok": "0.30",
            "output_usd_per_mtok": "1.20",
        },
    },
}


def tenant_doc(
    key: str, *, budget: str = "5", rpm: int = 100, tpm: int = 100_000, models: list[str] | None = None
) -> dict[str, Any]:
    return {
        "key_sha256": key_digest(key),
        "budget_usd": budget,
        "rpm": rpm,
        "tpm": tpm,
        "models": models if models is not None else ["kimi-k2"],
    }


def registry_doc(**tenants: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "tenants": tenants}


class MemoryLedger:
    def __init__(self) -> None:
        self.rows: dict[str, Usage] = {}

    def record(self, usage: Usage) -> None:
        self.rows.setdefault(usage.request_id, usage)

    def month_spend(self, tenant: str, month: str) -> Decimal:
        return sum(
            (u.cost_usd for u in self.rows.values() if u.tenant == tenant and u.day.startswith(month)), Decimal(0)
        )

    def usage(self, *, month: str | None = None, tenant: str | None = None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


# --- registry ---------------------------------------------------------------------------------


def test_registry_finds_a_tenant_by_its_key_and_nobody_by_another() -> None:
    registry = parse_registry(registry_doc(acme=tenant_doc("key-a"), beta=tenant_doc("key-b", budget="0.5")))
    found = registry.lookup("key-b")
    assert found is not None and found.tenant == "beta" and found.budget_usd == Decimal("0.5")
    assert registry.lookup("key-c") is None
    assert registry.lookup(key_digest("key-a")) is None  # the hash itself is not a key


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"key_sha256": "ABC"}, "key_sha256"),
        ({"budget_usd": "lots"}, "budget_usd"),
        ({"budget_usd": 5}, "budget_usd"),
        ({"budget_usd": "-1"}, "budget_usd"),
        ({"rpm": 0}, "rpm"),
        ({"tpm": True}, "tpm"),
        ({"models": "kimi-k2"}, "models"),
    ],
)
def test_registry_refuses_a_bad_entry(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(RegistryError, match=problem):
        parse_registry(registry_doc(acme={**tenant_doc("k"), **change}))


def test_registry_refuses_two_tenants_with_one_key_and_a_wrong_version() -> None:
    with pytest.raises(RegistryError, match="shares its key"):
        parse_registry(registry_doc(acme=tenant_doc("same"), beta=tenant_doc("same")))
    with pytest.raises(RegistryError):
        parse_registry({"version": 2, "tenants": {}})


def test_registry_file_follows_rewrites_and_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "tenants.json"
    registry = RegistryFile(path)
    assert registry.current().lookup("key-a") is None  # missing: nobody

    path.write_text(json.dumps(registry_doc(acme=tenant_doc("key-a"))))
    assert registry.current().lookup("key-a") is not None

    path.write_text(json.dumps(registry_doc(beta=tenant_doc("key-b"))))  # acme revoked in place
    assert registry.current().lookup("key-a") is None
    assert registry.current().lookup("key-b") is not None

    path.write_text('{"version": 1, "tenants": {"beta": ')  # half-written: nobody
    assert registry.current().lookup("key-b") is None
    path.write_text(json.dumps(registry_doc(beta=tenant_doc("key-b"))))
    assert registry.current().lookup("key-b") is not None


# --- request policy ---------------------------------------------------------------------------


def test_presented_key_reads_bearer_then_x_api_key() -> None:
    assert presented_key({"authorization": "Bearer  sk-1 "}) == "sk-1"
    assert presented_key({"authorization": "bearer sk-1"}) == "sk-1"
    assert presented_key({"authorization": "Basic c2s="}) == ""
    assert presented_key({"x-api-key": "sk-2"}) == "sk-2"
    assert presented_key({}) == ""


@pytest.mark.parametrize("route", ["/key/generate", "/spend/logs", "/config/update", "/health", "/ui", "/v1/models/x"])
def test_only_tenant_routes_are_open(route: str) -> None:
    with pytest.raises(RefusalError) as refused:
        check_route(route)
    assert refused.value.status == 403
    for open_route in ("/v1/chat/completions", "/chat/completions", "/v1/messages", "/v1/models"):
        check_route(open_route)


@pytest.mark.parametrize("header", ["x-litellm-api-base", "X-LiteLLM-Call-Id", "litellm_user_api_key", "api-base"])
def test_routing_headers_are_refused(header: str) -> None:
    with pytest.raises(RefusalError) as refused:
        check_headers(["content-type", header])
    assert refused.value.status == 400


ACME = TenantEntry("acme", key_digest("k"), Decimal(5), 10, 1000, frozenset({"kimi-k2"}))


@pytest.mark.parametrize(
    "field", ["api_base", "base_url", "api_key", "user_config", "fallbacks", "litellm_params", "aws_region_name"]
)
def test_upstream_overrides_in_the_body_are_refused(field: str) -> None:
    with pytest.raises(RefusalError) as refused:
        check_body({"model": "kimi-k2", field: "x"}, ACME, ["kimi-k2"])
    assert refused.value.status == 400


def test_body_model_must_be_allowed_and_known() -> None:
    assert (
        check_body({"model": "kimi-k2", "user": "beta", "metadata": {"tenant": "beta"}}, ACME, ["kimi-k2"]) == "kimi-k2"
    )
    for model, known in (("minimax-m2", ["kimi-k2", "minimax-m2"]), ("kimi-k2", ["minimax-m2"])):
        with pytest.raises(RefusalError) as refused:
            check_body({"model": model}, ACME, known)
        assert refused.value.status == 403
    with pytest.raises(RefusalError):
        check_body({}, ACME, ["kimi-k2"])


# --- prices, rates, budgets -------------------------------------------------------------------


def test_cost_is_the_catalog_price_of_the_reported_tokens_rounded_up() -> None:
    route = parse_gateway_config(GATEWAY)["kimi-k2"]
    assert route.cost(1_000_000, 0) == Decimal("0.60")
    assert route.cost(1000, 2000) == Decimal("0.0056")  # 0.0006 + 0.005
    assert route.cost(1, 0) == Decimal("0.0000006")
    odd = parse_gateway_config(
        {**GATEWAY, "models": {"m": {**GATEWAY["models"]["kimi-k2"], "input_usd_per_mtok": "0.0000003"}}}
    )["m"]
    assert odd.cost(1, 0) == Decimal("1E-10")  # 3e-13 rounds up to the ledger's quantum, never to 0


@pytest.mark.parametrize(
    "change", [{"api": "grpc"}, {"input_usd_per_mtok": "cheap"}, {"output_usd_per_mtok": "-1"}, {"key_env": ""}]
)
def test_gateway_config_refuses_bad_models(change: dict[str, Any]) -> None:
    with pytest.raises(GatewayConfigError):
        parse_gateway_config({"version": 1, "models": {"m": {**GATEWAY["models"]["kimi-k2"], **change}}})


def test_rate_limiter_counts_requests_and_tokens_over_a_sliding_minute() -> None:
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert limiter.admit("acme", 2, 100) is None
    assert limiter.admit("acme", 2, 100) is None
    refused = limiter.admit("acme", 2, 100)
    assert refused is not None and "2 requests per minute" in refused
    assert limiter.admit("beta", 2, 100) is None  # tenants do not share a window
    now[0] += 61
    assert limiter.admit("acme", 2, 100) is None
    limiter.spend_tokens("acme", 150)
    refused = limiter.admit("acme", 5, 100)
    assert refused is not None and "100 tokens per minute" in refused
    now[0] += 61
    assert limiter.admit("acme", 5, 100) is None


def test_budget_message_names_the_amount_and_the_renewal_day() -> None:
    assert budget_message(Decimal(5), "2026-12") == "monthly model budget of $5.00 used up; it renews on 2027-01-01"
    ledger = MemoryLedger()
    spend = SpendTracker(ledger)
    assert spend.refusal("acme", Decimal(1), "2026-12") is None
    spend.add("acme", "2026-12", Decimal("1.00"))
    assert spend.refusal("acme", Decimal(1), "2026-12") is not None


# --- usage counts -----------------------------------------------------------------------------


def test_counts_from_openai_and_anthropic_bodies() -> None:
    openai = TokenCount()
    openai.absorb({"usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}})
    assert (openai.input_tokens, openai.output_tokens) == (12, 5)
    anthropic = TokenCount()
    anthropic.absorb({"usage": {"input_tokens": 7, "cache_read_input_tokens": 3, "output_tokens": 4}})
    assert (anthropic.input_tokens, anthropic.output_tokens) == (10, 4)
    nothing = TokenCount()
    nothing.absorb({"choices": []})
    assert not nothing.seen


def test_counts_from_an_anthropic_stream_take_the_last_cumulative_report() -> None:
    counts = TokenCount()
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 9, "output_tokens": 1}}}
    counts.absorb(f"event: message_start\ndata: {json.dumps(start)}\n\n".encode())
    counts.absorb(b'event: ping\ndata: {"type": "ping"}\n\n')
    counts.absorb({"type": "message_delta", "usage": {"input_tokens": 0, "output_tokens": 6}})
    counts.absorb(b"data: [DONE]\n\n")
    assert (counts.input_tokens, counts.output_tokens) == (9, 6)


def test_counts_from_objects_with_a_usage_attribute() -> None:
    class Usage:
        def model_dump(self) -> dict[str, int]:
            return {"prompt_tokens": 3, "completion_tokens": 2}

    class Chunk:
        usage: object = None

    counts = TokenCount()
    counts.absorb(Chunk())
    assert not counts.seen
    chunk = Chunk()
    chunk.usage = Usage()
    counts.absorb(chunk)
    assert (counts.input_tokens, counts.output_tokens) == (3, 2)


# --- LiteLLM's config -------------------------------------------------------------------------


def test_proxy_config_references_keys_by_environment_name_only(tmp_path: Path) -> None:
    routes = parse_gateway_config(GATEWAY)
    config = proxy_config(routes)
    entries = {e["model_name"]: e["litellm_params"] for e in config["model_list"]}
    assert entries["kimi-k2"] == {
        "model": "openai/kimi-k2-0905-preview",
        "api_base": "http://upstream:8080/v1",
        "api_key": "os.environ/KIMI_API_KEY",
    }
    assert entries["minimax-m2"]["model"] == "anthropic/MiniMax-M2"
    assert config["general_settings"]["custom_auth"] == "gateway_entry.authenticate"
    assert config["general_settings"]["always_include_stream_usage"] is True
    path = write_proxy_config(routes, tmp_path)
    assert json.loads(path.read_text()) == config
    assert "from model_gateway.auth import authenticate" in (tmp_path / "gateway_entry.py").read_text()


def test_proxy_environment_drops_databases_and_pins_offline_settings(tmp_path: Path) -> None:
    env = proxy_environment(
        {"DATABASE_URL": "postgresql://x", "KIMI_API_KEY": "sk", "PATH": "/bin"}, tmp_path / "c.yaml"
    )
    assert "DATABASE_URL" not in env
    assert env["KIMI_API_KEY"] == "sk"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert env["CONFIG_FILE_PATH"] == str(tmp_path / "c.yaml")


# --- admission and metering -------------------------------------------------------------------


def gatekeeper(tmp_path: Path, **tenants: dict[str, Any]) -> tuple[Gatekeeper, MemoryLedger]:
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(registry_doc(**tenants)))
    ledger = MemoryLedger()
    return Gatekeeper(parse_gateway_config(GATEWAY), RegistryFile(path), ledger), ledger


def refusal_of(keeper: Gatekeeper, route: str, headers: dict[str, str], body: dict[str, Any] | None) -> int:
    with pytest.raises(RefusalError) as refused:
        keeper.admit(route, headers, body)
    return refused.value.status


def test_admission_in_order_key_route_body_budget_rate(tmp_path: Path) -> None:
    keeper, ledger = gatekeeper(tmp_path, acme=tenant_doc("key-a", budget="0.000010", rpm=3), beta=tenant_doc("key-b"))
    chat = "/v1/chat/completions"
    body = {"model": "kimi-k2", "messages": [], "user": "beta"}
    assert refusal_of(keeper, chat, {"authorization": "Bearer nope"}, body) == 401
    assert refusal_of(keeper, "/key/generate", {"authorization": "Bearer key-a"}, None) == 403
    assert refusal_of(keeper, chat, {"authorization": "Bearer key-a"}, {"model": "minimax-m2"}) == 403
    assert refusal_of(keeper, chat, {"authorization": "Bearer key-a"}, {**body, "api_base": "http://x"}) == 400

    admitted = keeper.admit(chat, {"authorization": "Bearer key-a"}, body)
    assert admitted.tenant.tenant == "acme"  # the body's `user` does not choose the tenant
    counts = TokenCount(input_tokens=10, output_tokens=2)
    usage = keeper.meter("acme", "kimi-k2", counts, "req-1")
    assert usage.cost_usd == Decimal("0.000011")
    assert ledger.rows["req-1"].tenant == "acme"
    with pytest.raises(RefusalError) as refused:
        keeper.admit(chat, {"authorization": "Bearer key-a"}, body)
    assert refused.value.status == 429 and "monthly model budget" in refused.value.message
    assert keeper.admit(chat, {"x-api-key": "key-b"}, body).tenant.tenant == "beta"

    keeper.admit("/v1/models", {"authorization": "Bearer key-a"}, None)
    keeper.admit("/v1/models", {"authorization": "Bearer key-a"}, None)
    assert refusal_of(keeper, "/v1/models", {"authorization": "Bearer key-a"}, None) == 429  # rpm 3


# --- the route gate ---------------------------------------------------------------------------


def run_gate(path: str, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, bytes, bytes]:
    seen: list[bytes] = []

    async def inner(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(message.get("body", b""))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"inner"})

    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "POST", "headers": headers or []}
    asyncio.run(RouteGate(inner)(scope, receive, send))
    return sent[0]["status"], sent[1]["body"], seen[0] if seen else b""


def test_route_gate_hides_everything_but_the_tenant_api() -> None:
    for path in ("/key/generate", "/spend/logs", "/ui/", "/metrics", "/openapi.json", "/health"):
        assert run_gate(path, b"")[0] == 404
    status, _, forwarded = run_gate("/v1/chat/completions", b'{"model": "kimi-k2"}')
    assert (status, forwarded) == (200, b'{"model": "kimi-k2"}')
    status, answer, _ = run_gate("/v1/chat/completions", b'{"model": "kimi-k2", "base_url": "http://evil"}')
    assert status == 400 and b"base_url" in answer
    assert run_gate("/v1/messages", b"{}", [(b"x-litellm-api-base", b"http://evil")])[0] == 400


def test_only_the_message_stop_event_ends_an_anthropic_stream() -> None:
    delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "say message_stop twice"}}
    assert not is_stream_end(f"event: content_block_delta\ndata: {json.dumps(delta)}\n\n".encode())
    assert not is_stream_end(delta)
    assert is_stream_end(b'event: message_stop\ndata: {"type": "message_stop"}\n\n')
    assert is_stream_end('data: {"type": "message_stop"}\n\n')
    assert is_stream_end({"type": "message_stop"})
    assert not is_stream_end(None)
