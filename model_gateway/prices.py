"""Model routes of gateway.json and the cost of a call, priced by the catalog rather than LiteLLM's map."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from pathlib import Path
from typing import Literal, cast

Api = Literal["openai", "anthropic"]
APIS: tuple[Api, ...] = ("openai", "anthropic")
MILLION = Decimal(1_000_000)
# The ledger's precision (ten-billionths of a dollar); costs round up to it, never down.
COST_QUANTUM = Decimal("1e-10")


class GatewayConfigError(ValueError):
    """gateway.json is missing, malformed or incomplete; the gateway cannot serve without it."""


@dataclass(frozen=True)
class ModelRoute:
    """One model a tenant may name, and where and how the gateway forwards it."""

    model_id: str
    provider: str
    api: Api
    upstream_model: str
    api_base: str
    key_env: str
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal

    def cost(self, input_tokens: int, output_tokens: int) -> Decimal:
        """Dollars for one call, from the upstream's own token counts, rounded up to the ledger's quantum."""
        raw = (
            Decimal(input_tokens) * self.input_usd_per_mtok + Decimal(output_tokens) * self.output_usd_per_mtok
        ) / MILLION
        return raw.quantize(COST_QUANTUM, rounding=ROUND_CEILING)


def _text(entry: Mapping[str, object], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise GatewayConfigError(f"{where}.{key}: expected a non-empty string")
    return value


def _price(entry: Mapping[str, object], key: str, where: str) -> Decimal:
    text = _text(entry, key, where)
    try:
        price = Decimal(text)
    except InvalidOperation as exc:
        raise GatewayConfigError(f"{where}.{key}: {text!r} is not a decimal number") from exc
    if not price.is_finite() or price < 0:
        raise GatewayConfigError(f"{where}.{key}: {text!r} must be a finite, non-negative number")
    return price


def parse_gateway_config(document: object) -> dict[str, ModelRoute]:
    """The routes of a parsed gateway.json, keyed by model id; every problem raises GatewayConfigError."""
    if not isinstance(document, dict) or document.get("version") != 1:
        raise GatewayConfigError("gateway.json: expected an object with version 1")
    models = document.get("models")
    if not isinstance(models, dict) or not models:
        raise GatewayConfigError("gateway.json: models must be a non-empty object")
    routes: dict[str, ModelRoute] = {}
    for model_id, entry in models.items():
        where = f"models.{model_id}"
        if not isinstance(entry, dict):
            raise GatewayConfigError(f"{where}: expected an object")
        api = entry.get("api")
        if api not in APIS:
            raise GatewayConfigError(f"{where}.api: expected one of {', '.join(APIS)}")
        routes[model_id] = ModelRoute(
            model_id=model_id,
            provider=_text(entry, "provider", where),
            api=cast(Api, api),
            upstream_model=_text(entry, "upstream_model", where),
            api_base=_text(entry, "api_base", where),
            key_env=_text(entry, "key_env", where),
            input_usd_per_mtok=_price(entry, "input_usd_per_mtok", where),
            output_usd_per_mtok=_price(entry, "output_usd_per_mtok", where),
        )
    return routes


def load_gateway_config(path: Path) -> dict[str, ModelRoute]:
    """Read and parse gateway.json; a missing or unreadable file is a GatewayConfigError too."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GatewayConfigError(f"{path}: {exc}") from exc
    return parse_gateway_config(document)
