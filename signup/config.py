"""The signup service's configuration, read once from the environment (plain variables, no extra dependency).

| variable | default | meaning |
|---|---|---|
| ``OPENCLAW_SIGNUP_TOKEN`` | required | bearer token of the client ``operator`` (at least 16 characters) |
| ``OPENCLAW_SIGNUP_CLIENT_TOKENS`` | none | more clients: ``billing=TOKEN,support=TOKEN`` |
| ``OPENCLAW_SIGNUP_PROJECT_DIR`` | current directory | the Pulumi project (``Pulumi.yaml``) |
| ``OPENCLAW_SIGNUP_FLEET_FILE`` | ``<project>/tenants.yaml`` | the fleet file edited and deployed |
| ``OPENCLAW_SIGNUP_DB`` | ``<project>/.signup/jobs.sqlite3`` | the SQLite job store |
| ``OPENCLAW_SIGNUP_STACKS`` | discovered | shard → stack: ``default=dev,k8s-example=k8s-example`` |
| ``OPENCLAW_SIGNUP_RATE_LIMIT_RPS`` / ``_BURST`` | ``5`` / ``20`` | per-client token bucket |
| ``OPENCLAW_SIGNUP_GIT_COMMIT`` | ``false`` | commit each change of the fleet file |
| ``OPENCLAW_SIGNUP_BATCH_WINDOW_S`` | ``0.2`` | how long a worker waits for more signups before an update |
| ``OPENCLAW_SIGNUP_BATCH_MAX_WAIT_S`` | ``5`` | how long it keeps waiting while signups are still being written |
| ``OPENCLAW_SIGNUP_BUSY_RETRIES`` / ``_BUSY_BACKOFF_S`` | ``5`` / ``2`` | retries after a concurrent update |
| ``OPENCLAW_SIGNUP_LOCK_TIMEOUT_S`` | ``30`` | how long an edit waits for the fleet file's lock |
| ``OPENCLAW_SIGNUP_LEDGER_URL`` | none | the model gateway's ledger, for ``GET /v1/tenants/{id}/usage`` |

Stack names: a shard's stack is the one named in ``OPENCLAW_SIGNUP_STACKS``, else the one
``Pulumi.<stack>.yaml`` file of the project whose ``openclaw-tenants:shard`` is that shard, else the
shard's own name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

log = logging.getLogger("signup.config")

MIN_TOKEN_LENGTH = 16
PREFIX = "OPENCLAW_SIGNUP_"
OPERATOR = "operator"
TOKEN_REQUIRED = f"{PREFIX}TOKEN is required: the operators' bearer token"
LEDGER_SCHEMES = ("sqlite:////", "postgresql://", "postgres://")


class ConfigError(ValueError):
    """The environment does not describe a usable service; the message says which variable."""


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs to know; tests build it directly."""

    tokens: Mapping[str, str] = field(repr=False)
    project_dir: Path
    fleet_file: Path
    db_path: Path
    stacks: Mapping[str, str] = field(default_factory=dict)
    rate_limit_rps: float = 5.0
    rate_limit_burst: int = 20
    git_commit: bool = False
    batch_window_s: float = 0.2
    batch_max_wait_s: float = 5.0
    busy_retries: int = 5
    busy_backoff_s: float = 2.0
    lock_timeout_s: float = 30.0
    id_prefix: str = "t"
    ledger_url: str | None = field(default=None, repr=False)  # may hold a database password

    def __post_init__(self) -> None:
        if not self.tokens:
            raise ConfigError(TOKEN_REQUIRED)
        for client, token in self.tokens.items():
            if len(token) < MIN_TOKEN_LENGTH:
                raise ConfigError(f"the token of client {client!r} is shorter than {MIN_TOKEN_LENGTH} characters")
        if self.rate_limit_rps <= 0 or self.rate_limit_burst < 1:
            raise ConfigError("the rate limit needs RPS > 0 and BURST >= 1")
        if self.ledger_url is not None and not self.ledger_url.startswith(LEDGER_SCHEMES):
            raise ConfigError(f"{PREFIX}LEDGER_URL: expected sqlite:////abs/path.sqlite or postgresql://...")

    def stack_for(self, shard: str) -> str:
        """The Pulumi stack that deploys a shard."""
        return self.stacks.get(shard, shard)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(PREFIX + name, default).strip()

        tokens: dict[str, str] = {}
        if get("TOKEN"):
            tokens[OPERATOR] = get("TOKEN")
        tokens.update(_pairs(get("CLIENT_TOKENS"), f"{PREFIX}CLIENT_TOKENS"))
        if not get("TOKEN"):
            raise ConfigError(TOKEN_REQUIRED)
        project = Path(get("PROJECT_DIR") or os.getcwd()).resolve()
        if not (project / "Pulumi.yaml").is_file():
            raise ConfigError(f"{PREFIX}PROJECT_DIR: {project} holds no Pulumi.yaml")
        stacks = discover_stacks(project) | _pairs(get("STACKS"), f"{PREFIX}STACKS")
        return cls(
            tokens=tokens,
            project_dir=project,
            fleet_file=Path(get("FLEET_FILE") or project / "tenants.yaml").resolve(),
            db_path=Path(get("DB") or project / ".signup" / "jobs.sqlite3").resolve(),
            stacks=stacks,
            rate_limit_rps=_number(get("RATE_LIMIT_RPS", "5"), "RATE_LIMIT_RPS"),
            rate_limit_burst=int(_number(get("RATE_LIMIT_BURST", "20"), "RATE_LIMIT_BURST")),
            git_commit=_flag(get("GIT_COMMIT", "false"), "GIT_COMMIT"),
            batch_window_s=_number(get("BATCH_WINDOW_S", "0.2"), "BATCH_WINDOW_S"),
            batch_max_wait_s=_number(get("BATCH_MAX_WAIT_S", "5"), "BATCH_MAX_WAIT_S"),
            busy_retries=int(_number(get("BUSY_RETRIES", "5"), "BUSY_RETRIES")),
            busy_backoff_s=_number(get("BUSY_BACKOFF_S", "2"), "BUSY_BACKOFF_S"),
            lock_timeout_s=_number(get("LOCK_TIMEOUT_S", "30"), "LOCK_TIMEOUT_S"),
            ledger_url=get("LEDGER_URL") or None,
        )


def discover_stacks(project_dir: Path) -> dict[str, str]:
    """shard → stack from the project's ``Pulumi.<stack>.yaml`` files; a shard named by two stacks is
    left out, with a warning (name its stack in OPENCLAW_SIGNUP_STACKS)."""
    found: dict[str, list[str]] = {}
    for path in sorted(project_dir.glob("Pulumi.*.yaml")):
        try:
            data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
        except Exception:  # an unreadable stack file names no shard; `pulumi` will complain about it
            continue
        config = data.get("config") if isinstance(data, dict) else None
        shard = config.get("openclaw-tenants:shard") if isinstance(config, dict) else None
        if isinstance(shard, str) and shard:
            found.setdefault(shard, []).append(path.name.removeprefix("Pulumi.").removesuffix(".yaml"))
    for shard, names in found.items():
        if len(names) > 1:
            log.warning(
                "shard %r is deployed by stacks %s; using stack %r unless %sSTACKS names one",
                shard,
                ", ".join(names),
                shard,
                PREFIX,
            )
    return {shard: names[0] for shard, names in found.items() if len(names) == 1}


def _pairs(text: str, name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{name}: expected name=value pairs separated by commas")
        out[key.strip()] = value.strip()
    return out


def _number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}: {text!r} is not a number") from None
    if value < 0:
        raise ConfigError(f"{PREFIX}{name}: must not be negative")
    return value


def _flag(text: str, name: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{PREFIX}{name}: expected true or false, not {text!r}")
