"""The container's healthcheck: exit 0 when the proxy answers its liveliness probe on localhost."""

from __future__ import annotations

import sys
import urllib.request

from model_gateway.settings import PORT

URL = f"http://127.0.0.1:{PORT}/health/liveliness"


def main() -> int:
    try:
        with urllib.request.urlopen(URL, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
