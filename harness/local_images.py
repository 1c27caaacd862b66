"""The local images (tests/e2e/images/build.sh): built once, reused after, named by their role."""

from __future__ import annotations

import subprocess

from .paths import ROOT

BUILD_SCRIPT = ROOT / "tests" / "e2e" / "images" / "build.sh"


class ImageBuildError(RuntimeError):
    """The build script failed; the message ends with its error output."""


def local_images(timeout_s: float = 3600) -> dict[str, str]:
    """Role (openclaw, proxy, model_gateway, egress_filter, data_agent) → the tag built or reused for it."""
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=timeout_s, check=False)
    if result.returncode != 0:
        raise ImageBuildError(f"building the local images failed:\n{result.stderr[-3000:]}")
    return dict(line.split("=", 1) for line in result.stdout.split())
