"""A tenant's gateway kept stopped while its volume is read or written: stopped only if it was running, and
always started again, whatever happened in between."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import docker
import docker.errors


@dataclass
class Pause:
    container: str
    was_running: bool
    unavailable_s: float = 0.0  # how long the gateway was not running because of this agent
    restart_error: str | None = None  # it did not start again (the serve loop keeps trying)


@contextmanager
def gateway_stopped(
    client: docker.DockerClient,
    name: str,
    stop_timeout_s: int,
    *,
    on_stopping: Callable[[], None],
    on_started: Callable[[], None],
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Pause]:
    """`on_stopping` runs before the stop (record it: an agent killed meanwhile starts it on its next start),
    `on_started` once it runs again."""
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        container = None
    pause = Pause(name, was_running=container is not None and container.status == "running")
    if container is None or not pause.was_running:
        yield pause
        return
    on_stopping()
    stopped_at = clock()
    try:
        print(f"stopping {name} (up to {stop_timeout_s}s)", file=sys.stderr)
        container.stop(timeout=stop_timeout_s)
        yield pause
    finally:
        try:
            container.start()
            on_started()
            print(f"started {name} again", file=sys.stderr)
        except Exception as exc:  # the Docker SDK raises its own errors and the HTTP library's
            pause.restart_error = f"gateway {name} did not start again: {exc}"
        pause.unavailable_s = round(clock() - stopped_at, 3)


def start_if_stopped(client: docker.DockerClient, name: str) -> None:
    """Start a gateway an earlier run of the agent stopped and could not start again; gone: nothing to do."""
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return
    if container.status != "running":
        container.start()
