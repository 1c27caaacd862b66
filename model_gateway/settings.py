"""Where the gateway finds its files and what it listens on, fixed by the container's contract."""

from __future__ import annotations

from pathlib import Path
from typing import Final

CONFIG_DIR: Final = Path("/etc/openclaw-models")
GATEWAY_FILE: Final = CONFIG_DIR / "gateway.json"
REGISTRY_FILE: Final = CONFIG_DIR / "tenants.json"
# Overrides for running the gateway outside its container (tests, benchmarks).
GATEWAY_FILE_ENV: Final = "OPENCLAW_MODELS_GATEWAY_FILE"
REGISTRY_FILE_ENV: Final = "OPENCLAW_MODELS_REGISTRY_FILE"
RUNTIME_DIR_ENV: Final = "OPENCLAW_MODELS_RUNTIME_DIR"
DEFAULT_RUNTIME_DIR: Final = Path("/tmp/model-gateway")
PORT: Final = 4000
HOST: Final = "0.0.0.0"
LISTEN_ENV: Final = "OPENCLAW_MODELS_LISTEN"  # host:port, for a gateway outside its container
