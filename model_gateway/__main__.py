"""The gateway's entrypoint: gateway.json → LiteLLM's config in /tmp → LiteLLM's proxy on 0.0.0.0:4000.

Started as `python3 -m model_gateway`. It refuses to start without a valid gateway.json or ledger
(nothing would be metered); the registry may be missing at start (every key is refused until it
appears). The proxy runs one worker, because the rate limits and the budget sums live in memory.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from model_gateway.ledger import DEFAULT_LEDGER_URL, LEDGER_URL_ENV, LedgerError, open_ledger
from model_gateway.litellm_config import proxy_environment, write_proxy_config
from model_gateway.prices import GatewayConfigError, ModelRoute, load_gateway_config
from model_gateway.runtime import gateway_file
from model_gateway.settings import DEFAULT_RUNTIME_DIR, HOST, LISTEN_ENV, PORT, RUNTIME_DIR_ENV

log = logging.getLogger("model_gateway")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    environ = dict(os.environ)
    try:
        routes = prepare_from(environ)
    except (GatewayConfigError, LedgerError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    import uvicorn

    from model_gateway.app import build

    host, _, port = environ.get(LISTEN_ENV, f"{HOST}:{PORT}").rpartition(":")
    log.info("serving %d models on %s:%s", len(routes), host, port)
    uvicorn.run(build(), host=host, port=int(port), workers=1, log_level="warning", access_log=False, lifespan="on")
    return 0


def prepare_from(environ: dict[str, str]) -> dict[str, ModelRoute]:
    """Check gateway.json and the ledger, write LiteLLM's config and set the proxy's environment; the routes."""
    routes = load_gateway_config(gateway_file())
    missing = sorted({route.key_env for route in routes.values() if not environ.get(route.key_env)})
    if missing:
        log.warning("no master key in the environment for: %s (those models will fail)", ", ".join(missing))
    open_ledger(environ.get(LEDGER_URL_ENV) or DEFAULT_LEDGER_URL).close()
    config = write_proxy_config(routes, Path(environ.get(RUNTIME_DIR_ENV, str(DEFAULT_RUNTIME_DIR))))
    os.environ.clear()
    os.environ.update(proxy_environment(environ, config))
    return routes


if __name__ == "__main__":
    sys.exit(main())
