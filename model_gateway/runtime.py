"""The one Gatekeeper of this process, built on first use from the container's files and environment."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from model_gateway.gatekeeper import Gatekeeper
from model_gateway.ledger import DEFAULT_LEDGER_URL, LEDGER_URL_ENV, open_ledger
from model_gateway.prices import load_gateway_config
from model_gateway.registry import RegistryFile
from model_gateway.settings import GATEWAY_FILE, GATEWAY_FILE_ENV, REGISTRY_FILE, REGISTRY_FILE_ENV


def gateway_file() -> Path:
    return Path(os.environ.get(GATEWAY_FILE_ENV, str(GATEWAY_FILE)))


def registry_file() -> Path:
    return Path(os.environ.get(REGISTRY_FILE_ENV, str(REGISTRY_FILE)))


@cache
def gatekeeper() -> Gatekeeper:
    """Built on the first request (in the proxy process), then shared by every hook."""
    return Gatekeeper(
        load_gateway_config(gateway_file()),
        RegistryFile(registry_file()),
        open_ledger(os.environ.get(LEDGER_URL_ENV) or DEFAULT_LEDGER_URL),
    )
