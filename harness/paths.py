"""Where the checkout's own files are: the project directory the program runs from, and its fleet files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_FLEET_FILE = ROOT / "tenants.yaml"
# The end-to-end fleet: one tenant per plan on the local Docker engine, with the local image builds.
E2E_FLEET_FILE = ROOT / "tests" / "e2e" / "fleet.yaml"
