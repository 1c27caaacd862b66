"""The service configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from signup.config import ConfigError, ServiceConfig, discover_stacks

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "x" * 32


def test_the_operator_token_is_required_and_long_enough() -> None:
    with pytest.raises(ConfigError, match="OPENCLAW_SIGNUP_TOKEN is required"):
        ServiceConfig.from_env({"OPENCLAW_SIGNUP_PROJECT_DIR": str(ROOT)})
    with pytest.raises(ConfigError, match="shorter than 16"):
        ServiceConfig.from_env({"OPENCLAW_SIGNUP_TOKEN": "short", "OPENCLAW_SIGNUP_PROJECT_DIR": str(ROOT)})


def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: openclaw-tenants\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  openclaw-tenants:shard: default\n")
    (tmp_path / "Pulumi.eu.yaml").write_text("config:\n  openclaw-tenants:shard: eu-1\n")
    return tmp_path


def test_defaults_and_overrides(tmp_path: Path) -> None:
    root = project(tmp_path)
    config = ServiceConfig.from_env({"OPENCLAW_SIGNUP_TOKEN": TOKEN, "OPENCLAW_SIGNUP_PROJECT_DIR": str(root)})
    assert config.fleet_file == root / "tenants.yaml"
    assert config.db_path == root / ".signup" / "jobs.sqlite3"
    assert config.stack_for("default") == "dev" and config.stack_for("eu-1") == "eu"
    assert config.stack_for("eu-2") == "eu-2"
    assert config.git_commit is False and config.tokens == {"operator": TOKEN}
    assert TOKEN not in repr(config)

    custom = ServiceConfig.from_env(
        {
            "OPENCLAW_SIGNUP_TOKEN": TOKEN,
            "OPENCLAW_SIGNUP_CLIENT_TOKENS": f"billing={'b' * 20}, support={'s' * 20}",
            "OPENCLAW_SIGNUP_PROJECT_DIR": str(root),
            "OPENCLAW_SIGNUP_DB": str(tmp_path / "jobs.db"),
            "OPENCLAW_SIGNUP_STACKS": "default=prod",
            "OPENCLAW_SIGNUP_GIT_COMMIT": "yes",
            "OPENCLAW_SIGNUP_RATE_LIMIT_RPS": "2.5",
        }
    )
    assert set(custom.tokens) == {"operator", "billing", "support"}
    assert custom.stack_for("default") == "prod" and custom.db_path == tmp_path / "jobs.db"
    assert custom.git_commit is True and custom.rate_limit_rps == 2.5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("OPENCLAW_SIGNUP_GIT_COMMIT", "maybe", "expected true or false"),
        ("OPENCLAW_SIGNUP_RATE_LIMIT_RPS", "fast", "is not a number"),
        ("OPENCLAW_SIGNUP_STACKS", "default", "name=value pairs"),
        ("OPENCLAW_SIGNUP_PROJECT_DIR", "/nonexistent", "holds no Pulumi.yaml"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str, message: str) -> None:
    env = {"OPENCLAW_SIGNUP_TOKEN": TOKEN, "OPENCLAW_SIGNUP_PROJECT_DIR": str(ROOT), name: value}
    with pytest.raises(ConfigError, match=message):
        ServiceConfig.from_env(env)


def test_a_shard_named_by_two_stack_files_is_not_guessed(tmp_path: Path) -> None:
    for stack in ("a", "b"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text("config:\n  openclaw-tenants:shard: default\n")
    (tmp_path / "Pulumi.c.yaml").write_text("config:\n  openclaw-tenants:shard: eu\n")
    (tmp_path / "Pulumi.broken.yaml").write_text("config: [\n")
    assert discover_stacks(tmp_path) == {"eu": "c"}
