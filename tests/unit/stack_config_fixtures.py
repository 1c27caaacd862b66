"""The stack's Pulumi config as the program's config readers see it, set per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pulumi
import pytest

PROJECT = "openclaw-tenants"


@pytest.fixture
def config() -> Iterator[pulumi.Config]:
    """The stack's config on an event loop of the test's own, left with no output pending."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield pulumi.Config(PROJECT)
    pulumi.runtime.set_all_config({}, [])
    pending = asyncio.all_tasks(loop)
    if pending:
        loop.run_until_complete(asyncio.wait(pending, timeout=10))
    loop.close()


def set_secrets(values: dict[str, str]) -> None:
    pulumi.runtime.set_all_config({f"{PROJECT}:{k}": v for k, v in values.items()}, [f"{PROJECT}:{k}" for k in values])
