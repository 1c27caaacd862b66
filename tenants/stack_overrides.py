"""A stack's own overrides of the fleet file, checked exactly as the fleet file is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .errors import plain_message
from .model import DockerTarget, Fleet, check_domain


@dataclass(frozen=True)
class StackOverrides:
    """Per-stack values from Pulumi config; None means "as tenants.yaml says"."""

    tenants_file: str
    shard: str
    domain: str | None = None
    edge_address: str | None = None
    edge_port: int | None = None
    openclaw_image: str | None = None
    proxy_image: str | None = None
    model_gateway_image: str | None = None


# Model field → the stack config key that overrides it, for error messages.
IMAGE_KEYS = {"openclaw": "openclawImage", "proxy": "proxyImage", "model_gateway": "modelGatewayImage"}
EDGE_KEYS = {"address": "edgeAddress", "port": "edgePort"}


def apply_overrides(fleet: Fleet, overrides: StackOverrides) -> Fleet:
    """The fleet as this stack sees it: a dev stack can serve a prod fleet file on localhost."""
    update: dict[str, object] = {}
    if overrides.domain is not None:
        update["domain"] = check_domain(overrides.domain)
    given_images = (
        ("openclaw", overrides.openclaw_image),
        ("proxy", overrides.proxy_image),
        ("model_gateway", overrides.model_gateway_image),
    )
    images = {k: v for k, v in given_images if v}
    if images:
        update["images"] = _revalidated(fleet.images, images, IMAGE_KEYS)
    given_edge = (("address", overrides.edge_address), ("port", overrides.edge_port))
    edge = {k: v for k, v in given_edge if v is not None}
    if edge:
        update["targets"] = {
            name: target.model_copy(update={"edge": _revalidated(target.edge, edge, EDGE_KEYS)})
            if isinstance(target, DockerTarget)
            else target
            for name, target in fleet.targets.items()
        }
    return fleet.model_copy(update=update)


ModelT = TypeVar("ModelT", bound=BaseModel)


def _revalidated(current: ModelT, changes: Mapping[str, object], keys: Mapping[str, str]) -> ModelT:
    """``current`` with ``changes``, checked exactly as in a fleet file; each error names its config key."""
    try:
        return type(current).model_validate(current.model_dump() | dict(changes))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            key = keys.get(field, "/".join(keys[k] for k in changes))
            problems.append(f"openclaw-tenants:{key}: {plain_message(error['msg'])}")
        raise ValueError("; ".join(problems)) from None
