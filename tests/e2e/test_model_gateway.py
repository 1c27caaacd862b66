"""The model gateway's image against a fake upstream, on a network of this test's own.

The fake upstream (harness/fake_upstream.py, run in a container of the gateway's image) is the only
place the gateway can reach: the network is internal. Tenants are registered by writing
tenants.json into the gateway container; the ledger is read from the host through the ledger's own
module, as the operator's reports do.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from harness import model_gateway_rig as gateway_rig
from harness.model_gateway_rig import put_file
from harness.waiting import wait_until
from model_gateway.ledger import UsageRow, open_ledger
from model_gateway.registry import key_digest

ROOT = Path(__file__).resolve().parents[2]
BOOT_TIMEOUT_S = 180.0
HTTP_TIMEOUT_S = 60.0
PRICES = {"kimi-k2": ("0.60", "2.50"), "minimax-m2": ("0.30", "1.20"), "pricey": ("1000000", "1000000")}


def gateway_json() -> dict[str, Any]:
    def model(
        provider: str, api: str, upstream: str, base: str, *, key_env: str, price: tuple[str, str]
    ) -> dict[str, str]:
        return {
            "provider": provider,
            "api": api,
            "upstream_model": upstream,
            "api_base": base,
            "key_env": key_env,
            "input_usd_per_mtok": price[0],
            "output_usd_per_mtok": price[1],
        }

    return {
        "version": 1,
        "models": {
            "kimi-k2": model(
                "kimi",
                "openai",
                "kimi-k2-0905",
                "http://upstream:8080/v1",
                key_env="KIMI_API_KEY",
                price=PRICES["kimi-k2"],
            ),
            "minimax-m2": model(
                "minimax",
                "anthropic",
                "MiniMax-M2",
                "http://upstream:8080",
                key_env="MINIMAX_API_KEY",
                price=PRICES["minimax-m2"],
            ),
            "pricey": model(
                "kimi",
                "openai",
                "kimi-pricey",
                "http://upstream:8080/v1",
                key_env="KIMI_API_KEY",
                price=PRICES["pricey"],
            ),
        },
    }


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Rig:
    client: docker.DockerClient
    gateway: Container
    upstream: Container
    ledger_path: Path
    keys: dict[str, str]
    master_keys: dict[str, str]
    tenants: dict[str, dict[str, Any]]
    replies: list[Reply] = field(default_factory=list)

    @property
    def base(self) -> str:
        self.gateway.reload()
        networks = self.gateway.attrs["NetworkSettings"]["Networks"]
        return f"http://{next(iter(networks.values()))['IPAddress']}:4000"

    @property
    def upstream_base(self) -> str:
        self.upstream.reload()
        networks = self.upstream.attrs["NetworkSettings"]["Networks"]
        return f"http://{next(iter(networks.values()))['IPAddress']}:8080"

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = {"content-type": "application/json", **(headers or {})}
        if key is not None:
            sent["authorization"] = f"Bearer {key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                reply = Reply(response.status, response.read().decode(), dict(response.headers))
        except urllib.error.HTTPError as error:
            reply = Reply(error.code, error.read().decode(), dict(error.headers))
        self.replies.append(reply)
        return reply

    def chat(self, tenant: str, model: str, prompt: str, **extra: Any) -> Reply:
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], **extra}
        return self.call("POST", "/v1/chat/completions", body, key=self.keys[tenant])

    def messages(self, tenant: str, model: str, prompt: str, **extra: Any) -> Reply:
        body = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": prompt}], **extra}
        headers = {"x-api-key": self.keys[tenant], "anthropic-version": "2023-06-01"}
        return self.call("POST", "/v1/messages", body, headers=headers)

    def upstream_calls(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.upstream_base + "/_calls", timeout=HTTP_TIMEOUT_S) as response:
            calls: list[dict[str, Any]] = json.load(response)
        return calls

    def write_registry(self, tenants: dict[str, dict[str, Any]]) -> None:
        document = {"version": 1, "tenants": tenants}
        put_file(self.gateway, "/etc/openclaw-models", "tenants.json", json.dumps(document).encode())

    def usage(self, tenant: str) -> dict[str, UsageRow]:
        ledger = open_ledger(f"sqlite:///{self.ledger_path}")
        try:
            return {row.model: row for row in ledger.usage(tenant=tenant)}
        finally:
            ledger.close()

    def wait_healthy(self) -> None:
        def alive() -> bool:
            try:
                with urllib.request.urlopen(self.base + "/health/liveliness", timeout=5) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_until(alive, BOOT_TIMEOUT_S)


def tenant_entry(key: str, *, budget: str = "50", rpm: int = 1000, models: list[str] | None = None) -> dict[str, Any]:
    return {
        "key_sha256": key_digest(key),
        "budget_usd": budget,
        "rpm": rpm,
        "tpm": 10_000_000,
        "models": models or ["kimi-k2", "minimax-m2"],
    }


@pytest.fixture(scope="module")
def rig(engine: docker.DockerClient, images: dict[str, str]) -> Iterator[Rig]:
    image = images["model_gateway"]
    run = uuid.uuid4().hex[:8]
    prefix = f"mgtest-{run}"
    labels = {"openclaw-tenants.test": "model-gateway", "openclaw-tenants.run": run}
    network = engine.networks.create(f"{prefix}-net", driver="bridge", internal=True, labels=labels)
    volume = engine.volumes.create(f"{prefix}-ledger", labels=labels)
    created: list[Container] = []
    try:
        upstream = gateway_rig.fake_upstream(engine, image, f"{prefix}-upstream", labels)
        created.append(upstream)
        gateway_rig.only_on(network, engine, upstream, ["upstream"])
        upstream.start()

        keys = {name: f"ocm-{secrets.token_urlsafe(24)}" for name in ("acme", "beta", "gamma", "delta")}
        master_keys = {
            "KIMI_API_KEY": f"sk-kimi-{secrets.token_hex(16)}",
            "MINIMAX_API_KEY": f"sk-mm-{secrets.token_hex(16)}",
        }
        tenants = {
            "acme": tenant_entry(keys["acme"]),
            "beta": tenant_entry(keys["beta"], models=["kimi-k2"]),
            "gamma": tenant_entry(keys["gamma"], budget="1.00", models=["pricey"]),
            "delta": tenant_entry(keys["delta"], rpm=2),
        }
        gateway = gateway_rig.gateway(
            engine, image, f"{prefix}-gateway", environment=master_keys, volume=volume.name, labels=labels
        )
        created.append(gateway)
        put_file(gateway, gateway_rig.CONFIG_DIR, "gateway.json", json.dumps(gateway_json()).encode())
        gateway_rig.only_on(network, engine, gateway, [])
        rig = Rig(
            client=engine,
            gateway=gateway,
            upstream=upstream,
            ledger_path=Path(volume.attrs["Mountpoint"]) / "ledger.sqlite",
            keys=keys,
            master_keys=master_keys,
            tenants=tenants,
        )
        rig.write_registry(tenants)
        gateway.start()
        rig.wait_healthy()
        wait_until(lambda: upstream_up(rig), 60.0)
        yield rig
    finally:
        for container in reversed(created):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        network.remove()
        volume.remove(force=True)


def upstream_up(rig: Rig) -> bool:
    try:
        rig.upstream_calls()
    except OSError:
        return False
    return True


def sums(calls: list[dict[str, Any]], model: str) -> tuple[int, int, int]:
    mine = [c for c in calls if c["model"] == model]
    return len(mine), sum(c["input_tokens"] for c in mine), sum(c["output_tokens"] for c in mine)


UPSTREAM_MODEL = {"kimi-k2": "kimi-k2-0905", "minimax-m2": "MiniMax-M2", "pricey": "kimi-pricey"}


def test_own_key_works_in_both_styles_and_the_ledger_holds_the_upstreams_counts(rig: Rig) -> None:
    replies = [
        rig.chat("acme", "kimi-k2", "one two three four"),
        # The client turns usage off; the gateway asks the upstream for it anyway.
        rig.chat("acme", "kimi-k2", "five six seven", stream=True, stream_options={"include_usage": False}),
        rig.messages("acme", "minimax-m2", "eight nine"),
        rig.messages("acme", "minimax-m2", "ten eleven twelve thirteen fourteen", stream=True),
        # A request that says it is beta's is still acme's.
        rig.chat(
            "acme", "kimi-k2", "charge it to beta please", user="beta", metadata={"tenant": "beta", "user_id": "beta"}
        ),
    ]
    assert [r.status for r in replies] == [200] * 5, [r.text[:300] for r in replies]
    assert replies[0].json()["choices"][0]["message"]["content"].startswith("alpha")
    assert replies[1].text.rstrip().endswith("data: [DONE]")
    assert replies[2].json()["content"][0]["text"].startswith("alpha")
    assert "message_stop" in replies[3].text

    calls = rig.upstream_calls()
    assert all(c["usage_reported"] for c in calls)
    assert all(c["user"] != "beta" or c["model"] == "kimi-k2-0905" for c in calls)
    usage = rig.usage("acme")
    for model in ("kimi-k2", "minimax-m2"):
        requests, input_tokens, output_tokens = sums(calls, UPSTREAM_MODEL[model])
        row = usage[model]
        assert (row.requests, row.input_tokens, row.output_tokens) == (requests, input_tokens, output_tokens)
        price_in, price_out = (Decimal(p) for p in PRICES[model])
        assert row.cost_usd == (input_tokens * price_in + output_tokens * price_out) / 1_000_000
    assert rig.usage("beta") == {}


def test_unknown_and_missing_keys_are_refused(rig: Rig) -> None:
    assert (
        rig.call("POST", "/v1/chat/completions", {"model": "kimi-k2", "messages": []}, key="ocm-nobody").status == 401
    )
    assert rig.call("POST", "/v1/chat/completions", {"model": "kimi-k2", "messages": []}).status == 401
    assert rig.call("GET", "/v1/models", key=key_digest(rig.keys["acme"])).status == 401


def test_a_model_outside_the_allowlist_is_refused(rig: Rig) -> None:
    before = len(rig.upstream_calls())
    reply = rig.chat("beta", "minimax-m2", "hello")
    assert reply.status == 403, reply.text
    models = rig.call("GET", "/v1/models", key=rig.keys["beta"])
    assert models.status == 200
    assert [m["id"] for m in models.json()["data"]] == ["kimi-k2"]
    assert len(rig.upstream_calls()) == before


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"api_base": "http://198.51.100.7/v1"}, {}),
        ({"base_url": "http://198.51.100.7/v1"}, {}),
        ({"api_key": "sk-mine"}, {}),
        ({"user_config": {"model_list": []}}, {}),
        ({"fallbacks": ["minimax-m2"]}, {}),
        ({}, {"x-litellm-api-base": "http://198.51.100.7"}),
        ({}, {"x-litellm-call-id": "an-earlier-call"}),
    ],
)
def test_attempts_to_set_the_upstream_are_refused(rig: Rig, body: dict[str, Any], headers: dict[str, str]) -> None:
    before = len(rig.upstream_calls())
    request = {"model": "kimi-k2", "messages": [{"role": "user", "content": "hi"}], **body}
    reply = rig.call("POST", "/v1/chat/completions", request, key=rig.keys["acme"], headers=headers)
    assert reply.status in (400, 403), reply.text
    assert len(rig.upstream_calls()) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/key/generate"),
        ("GET", "/key/info"),
        ("POST", "/user/new"),
        ("GET", "/spend/logs"),
        ("GET", "/global/spend"),
        ("GET", "/config/yaml"),
        ("POST", "/config/update"),
        ("GET", "/model/info"),
        ("POST", "/model/new"),
        ("GET", "/health"),
        ("GET", "/ui"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/routes"),
    ],
)
def test_admin_config_spend_and_key_routes_are_refused(rig: Rig, method: str, path: str) -> None:
    reply = rig.call(method, path, {} if method == "POST" else None, key=rig.keys["acme"])
    assert reply.status in (401, 403, 404), (path, reply.status, reply.text[:200])


def test_a_tenant_over_its_budget_gets_a_readable_429(rig: Rig) -> None:
    first = rig.chat("gamma", "pricey", "a few words")
    assert first.status == 200, first.text
    refused = rig.chat("gamma", "pricey", "a few more")
    assert refused.status == 429
    message = refused.json()["error"]["message"]
    assert message.startswith("monthly model budget of $1.00 used up; it renews on ")
    assert message.endswith("-01")
    assert rig.chat("acme", "kimi-k2", "others keep working").status == 200


def test_requests_over_the_rate_limit_get_429(rig: Rig) -> None:
    statuses = [rig.call("GET", "/v1/models", key=rig.keys["delta"]).status for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_a_key_removed_from_the_registry_is_refused_without_a_restart(rig: Rig) -> None:
    started = rig.gateway.attrs["State"]["StartedAt"]
    assert rig.chat("beta", "kimi-k2", "still here").status == 200
    remaining = {k: v for k, v in rig.tenants.items() if k != "beta"}
    rig.write_registry(remaining)
    assert rig.chat("beta", "kimi-k2", "gone").status == 401
    assert rig.chat("acme", "kimi-k2", "not me").status == 200
    rig.gateway.reload()
    assert rig.gateway.attrs["State"]["StartedAt"] == started
    rig.write_registry(rig.tenants)
    assert rig.chat("beta", "kimi-k2", "back").status == 200


def test_a_restart_loses_no_recorded_usage(rig: Rig) -> None:
    before = {tenant: rig.usage(tenant) for tenant in rig.tenants}
    assert before["acme"]
    rig.gateway.restart(timeout=30)
    rig.wait_healthy()
    assert {tenant: rig.usage(tenant) for tenant in rig.tenants} == before
    # The budget survives the restart too: it is read back from the ledger.
    assert rig.chat("gamma", "pricey", "again").status == 429
    assert rig.chat("acme", "kimi-k2", "after the restart").status == 200
    assert rig.usage("acme")["kimi-k2"].requests == before["acme"]["kimi-k2"].requests + 1


def test_the_healthcheck_passes_inside_the_container(rig: Rig) -> None:
    result = rig.gateway.exec_run(["python3", "-m", "model_gateway.healthcheck"])
    assert result.exit_code == 0


def test_master_keys_reach_the_upstream_and_no_response(rig: Rig) -> None:
    calls = rig.upstream_calls()
    sent = {c["authorization"] for c in calls} | {c["x_api_key"] for c in calls}
    assert f"Bearer {rig.master_keys['KIMI_API_KEY']}" in sent
    assert rig.master_keys["MINIMAX_API_KEY"] in sent
    assert rig.replies
    for reply in rig.replies:
        seen = reply.text + json.dumps(reply.headers)
        for value in rig.master_keys.values():
            assert value not in seen
    assert not {k for k in sent if k and any(key in k for key in rig.keys.values())}
