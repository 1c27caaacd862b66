"""The Docker engine and the local images, shared with the end-to-end suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..e2e.conftest import engine, images, side

__all__ = ["engine", "images", "side"]

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
