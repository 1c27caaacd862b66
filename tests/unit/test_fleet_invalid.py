"""Invalid fleet files: every problem is reported with its exact path, line and message."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantctl.app import app
from tenants.errors import FleetError, Problem, format_path
from tenants.load import load_fleet, parse_fleet

SOURCE = "fleet.yaml"
SECRET_HINT = "pulumi config set --secret"
RESERVED = (
    "reserved ids: admin, api, app, auth, dashboard, default, docs, edge, grafana, internal, "
    "kube-system, login, mail, metrics, openclaw, proxy, root, signup, smtp, status, system, www"
)
NOT_DNS = "is not a DNS label: use lowercase letters, digits and '-', starting and ending with a letter or digit"
PROVIDERS = "Input should be 'kimi', 'minimax', 'anthropic', 'openai' or 'openrouter'"
TOP_KEYS = "version, domain, public_suffixes, backups, images, channels, defaults, models, plans, targets, tenants"
PINNED = "must be pinned to an exact tag or digest, like nginx:1.27.5"

from tests.unit.fleets import BASE  # noqa: E402 - line numbers in the cases refer to it

# Active use of BASE: 4 CPUs, 8 GiB memory, 3 tenant networks (+1 edge network).


def swap(old: str, new: str, text: str = BASE) -> str:
    """BASE with one exact, unique fragment replaced."""
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


def plus(tenant: str) -> str:
    """BASE with one more tenant (``- id: ...`` on line 20)."""
    return BASE + tenant


def before_targets(section: str) -> str:
    """BASE with top-level lines inserted at line 3, before ``targets:``."""
    return swap("targets:\n", section + "targets:\n")


def problems_of(text: str) -> tuple[Problem, ...]:
    with pytest.raises(FleetError) as info:
        parse_fleet(text, SOURCE)
    assert info.value.source == SOURCE
    return tuple(info.value.problems)


@dataclass(frozen=True)
class Want:
    line: int
    path: tuple[str | int, ...]
    fragments: tuple[str, ...]
    exact: bool

    def check(self, problem: Problem, render: str) -> None:
        assert (problem.line, problem.path) == (self.line, self.path), render
        if self.exact:
            assert problem.message == self.fragments[0], render
        else:
            for fragment in self.fragments:
                assert fragment in problem.message, f"{fragment!r} not in message\n{render}"


def exact(line: int, path: tuple[str | int, ...], message: str) -> Want:
    return Want(line, path, (message,), exact=True)


def having(line: int, path: tuple[str | int, ...], *fragments: str) -> Want:
    return Want(line, path, fragments, exact=False)


def secret(line: int, path: tuple[str | int, ...], kind: str) -> Want:
    return having(line, path, f"looks like a{'n' if kind[0] in 'AEIOU' else ''} {kind}", SECRET_HINT)


def case(case_id: str, text: str, *wants: Want) -> object:
    return pytest.param(text, wants, id=case_id)


T3 = ("tenants", 3)  # the tenant added by ``plus``

CASES = [
    # --- tenant ids ---------------------------------------------------------------------------
    case(
        "duplicate-id",
        swap("  - id: initech", "  - id: acme"),
        exact(17, ("tenants", 2, "id"), "duplicate tenant id 'acme'; first declared at tenants[0]"),
    ),
    case(
        "duplicate-id-appended",
        plus("  - id: globex\n"),
        exact(20, (*T3, "id"), "duplicate tenant id 'globex'; first declared at tenants[1]"),
    ),
    case(
        "id-uppercase",
        swap("  - id: initech", "  - id: Initech"),
        exact(17, ("tenants", 2, "id"), f"'Initech' {NOT_DNS}"),
    ),
    case(
        "id-underscore",
        swap("  - id: initech", "  - id: ini_tech"),
        exact(17, ("tenants", 2, "id"), f"'ini_tech' {NOT_DNS}"),
    ),
    case(
        "id-leading-dash",
        swap("  - id: initech", "  - id: -initech"),
        exact(17, ("tenants", 2, "id"), f"'-initech' {NOT_DNS}"),
    ),
    case(
        "id-trailing-dash",
        swap("  - id: initech", "  - id: initech-"),
        exact(17, ("tenants", 2, "id"), f"'initech-' {NOT_DNS}"),
    ),
    case(
        "id-dot",
        plus("  - id: hoo.li\n"),
        exact(20, (*T3, "id"), f"'hoo.li' {NOT_DNS}"),
    ),
    case(
        "id-too-short",
        swap("  - id: initech", "  - id: ab"),
        exact(17, ("tenants", 2, "id"), "'ab' must be 3 to 40 characters long"),
    ),
    case(
        "id-too-long",
        swap("  - id: initech", "  - id: " + "a" * 41),
        exact(17, ("tenants", 2, "id"), f"'{'a' * 41}' must be 3 to 40 characters long"),
    ),
    case(
        "id-reserved-www",
        swap("  - id: initech", "  - id: www"),
        exact(17, ("tenants", 2, "id"), f"'www' is reserved; {RESERVED}"),
    ),
    case(
        "id-reserved-api",
        swap("  - id: initech", "  - id: api"),
        exact(17, ("tenants", 2, "id"), f"'api' is reserved; {RESERVED}"),
    ),
    case(
        "id-reserved-admin",
        swap("  - id: initech", "  - id: admin"),
        exact(17, ("tenants", 2, "id"), f"'admin' is reserved; {RESERVED}"),
    ),
    case(
        "id-edge-of-a-target",
        swap("  - id: initech", "  - id: edge-local"),
        exact(
            17,
            ("tenants", 2, "id"),
            "'edge-local' starts with 'edge-', which names the edge proxies of the targets",
        ),
    ),
    case(
        "id-models-of-a-target",
        swap("  - id: initech", "  - id: models-local"),
        exact(
            17,
            ("tenants", 2, "id"),
            "'models-local' starts with 'models-', which names the model gateways of the targets",
        ),
    ),
    # --- model allowance and catalog ---------------------------------------------------------------
    case(
        "plan-model-budget-above-max",
        before_targets("plans:\n  basic:\n    model_budget_usd: '50.00'\n"),
        exact(
            5,
            ("plans", "basic", "model_budget_usd"),
            "model_budget_usd 50.00 is above this plan's max.model_budget_usd 20.00",
        ),
    ),
    case(
        "plan-model-rpm-not-a-number",
        before_targets("plans:\n  pro:\n    model_rpm: '60'\n"),
        having(5, ("plans", "pro", "model_rpm"), "Input should be a valid integer"),
    ),
    case(
        "plan-allows-an-unknown-model",
        before_targets("plans:\n  pro:\n    models: [kimi-k2.6, minimax-m2.7, gpt-9]\n"),
        having(5, ("plans", "pro", "models", 2), "unknown model 'gpt-9'; known: claude-haiku-4-5"),
    ),
    case(
        "plan-allows-no-model",
        before_targets("plans:\n  pro:\n    models: []\n"),
        having(5, ("plans", "pro", "models"), "at least 1 item"),
    ),
    case(
        "tenant-provider-without-an-allowed-model",
        before_targets("plans:\n  basic:\n    models: [gpt-5-mini]\n"),
        exact(
            17,
            ("tenants", 0, "model_provider"),
            "plan 'basic' allows no kimi model (it allows gpt-5-mini); choose another provider or plan, "
            "or add a model of this provider to the plan's models",
        ),
        having(22, ("tenants", 2, "model_provider"), "plan 'basic' allows no anthropic model"),
    ),
    case(
        "override-model-budget-above-max",
        plus("  - id: hooli\n    overrides: {model_budget_usd: '20.01', model_tpm: 100}\n"),
        exact(
            21,
            ("tenants", 3, "overrides", "model_budget_usd"),
            "20.01 is above plan 'basic' max 20.00; choose a larger plan",
        ),
    ),
    case(
        "override-model-rpm-above-max",
        plus("  - id: hooli\n    plan: pro\n    overrides:\n      model_rpm: 301\n"),
        exact(23, ("tenants", 3, "overrides", "model_rpm"), "301 is above plan 'pro' max 300; choose a larger plan"),
    ),
    case(
        "model-id-invalid",
        before_targets("models:\n  My_Model: {provider: kimi}\n"),
        having(4, ("models", "My_Model"), "model id 'My_Model' must be lowercase"),
    ),
    case(
        "new-model-missing-fields",
        before_targets("models:\n  kimi-next:\n    provider: kimi\n"),
        *(
            exact(4, ("models", "kimi-next", field), "required key is missing")
            for field in ("api", "input_usd_per_mtok", "output_usd_per_mtok", "upstream_model")
        ),
    ),
    case(
        "builtin-model-price-invalid",
        before_targets("models:\n  kimi-k2.6:\n    input_usd_per_mtok: '-1'\n"),
        having(5, ("models", "kimi-k2.6", "input_usd_per_mtok"), "greater than or equal to 0"),
    ),
    case(
        "model-provider-unknown",
        before_targets("models:\n  kimi-k2.6:\n    provider: gemini\n"),
        having(5, ("models", "kimi-k2.6", "provider"), PROVIDERS),
    ),
    case(
        "model-gateway-upstream-not-a-url",
        swap("    type: docker\n", "    type: docker\n    model_gateway: {upstreams: {kimi: 'ftp://x'}}\n"),
        having(6, ("targets", "local", "model_gateway", "upstreams"), "must be an http(s) base URL"),
    ),
    case(
        "model-gateway-egress-unknown",
        swap("    type: docker\n", "    type: docker\n    model_gateway: {egress: direct}\n"),
        having(6, ("targets", "local", "model_gateway", "egress"), "Input should be 'internet' or 'none'"),
    ),
    case(
        "model-gateway-image-unpinned",
        before_targets("images:\n  model_gateway: openclaw-local/model-gateway:latest\n"),
        having(4, ("images", "model_gateway"), PINNED),
    ),
    case(
        "id-missing",
        swap("  - id: globex\n    plan: pro\n", "  - plan: pro\n"),
        exact(15, ("tenants", 1, "id"), "required key is missing"),
    ),
    case(
        "id-integer",
        swap("  - id: globex", "  - id: 12345"),
        exact(15, ("tenants", 1, "id"), "Input should be a valid string; got 12345"),
    ),
    # --- references and enumerations -----------------------------------------------------------
    case(
        "unknown-plan",
        swap("plan: pro", "plan: platinum"),
        exact(16, ("tenants", 1, "plan"), "unknown plan 'platinum'; known: basic, enterprise, pro"),
    ),
    case(
        "unknown-target",
        plus("  - id: hooli\n    target: remote\n"),
        exact(21, (*T3, "target"), "unknown target 'remote'; known: local"),
    ),
    case(
        "unknown-provider",
        plus("  - id: hooli\n    model_provider: gemini\n"),
        exact(21, (*T3, "model_provider"), f"{PROVIDERS}; got 'gemini'"),
    ),
    case(
        "unknown-channel",
        plus("  - id: hooli\n    channel: beta\n"),
        exact(21, (*T3, "channel"), "unknown channel 'beta'; known: canary, stable"),
    ),
    case(
        "unknown-state",
        plus("  - id: hooli\n    state: paused\n"),
        exact(21, (*T3, "state"), "Input should be 'active', 'suspended' or 'offboarded'; got 'paused'"),
    ),
    case(
        "shard-not-a-name",
        plus("  - id: hooli\n    shard: EU_1\n"),
        exact(21, (*T3, "shard"), "'EU_1' must be a lowercase name of letters, digits and '-'"),
    ),
    # --- overrides -----------------------------------------------------------------------------
    case(
        "override-cpus-above-plan-max",
        plus("  - id: hooli\n    overrides:\n      cpus: 3\n"),
        exact(22, (*T3, "overrides", "cpus"), "3.0 is above plan 'basic' max 2.0; choose a larger plan"),
    ),
    case(
        "override-memory-above-plan-max",
        plus("  - id: hooli\n    overrides:\n      memory_gib: 5\n"),
        exact(22, (*T3, "overrides", "memory_gib"), "5.0 is above plan 'basic' max 4.0; choose a larger plan"),
    ),
    case(
        "override-storage-above-plan-max",
        plus("  - id: hooli\n    plan: pro\n    overrides:\n      storage_gib: 101\n"),
        exact(23, (*T3, "overrides", "storage_gib"), "101 is above plan 'pro' max 100; choose a larger plan"),
    ),
    case(
        "override-cpus-zero",
        plus("  - id: hooli\n    overrides:\n      cpus: 0\n"),
        exact(22, (*T3, "overrides", "cpus"), "Input should be greater than 0; got 0"),
    ),
    case(
        "override-memory-below-minimum",
        plus("  - id: hooli\n    overrides:\n      memory_gib: 0.5\n"),
        exact(22, (*T3, "overrides", "memory_gib"), "Input should be greater than or equal to 1; got 0.5"),
    ),
    case(
        "override-storage-zero",
        plus("  - id: hooli\n    overrides:\n      storage_gib: 0\n"),
        exact(22, (*T3, "overrides", "storage_gib"), "Input should be greater than or equal to 1; got 0"),
    ),
    case(
        "overrides-not-a-mapping",
        plus("  - id: hooli\n    overrides: big\n"),
        having(21, (*T3, "overrides"), "valid dictionary", "got 'big'"),
    ),
    case(
        "override-cpus-bool",
        plus("  - id: hooli\n    overrides:\n      cpus: true\n"),
        having(22, (*T3, "overrides", "cpus"), "valid number", "True"),
    ),
    case(
        "override-storage-str",
        plus("  - id: hooli\n    overrides:\n      storage_gib: big\n"),
        having(22, (*T3, "overrides", "storage_gib"), "valid integer", "'big'"),
    ),
    # --- rotation ------------------------------------------------------------------------------
    case(
        "rotation-negative",
        plus("  - id: hooli\n    rotation: -1\n"),
        exact(21, (*T3, "rotation"), "Input should be greater than or equal to 0; got -1"),
    ),
    case(
        "rotation-bool",
        plus("  - id: hooli\n    rotation: true\n"),
        having(21, (*T3, "rotation"), "valid integer", "True"),
    ),
    case(
        "rotation-word",
        plus("  - id: hooli\n    rotation: three\n"),
        having(21, (*T3, "rotation"), "valid integer", "'three'"),
    ),
    case(
        "rotation-quoted-number",
        plus('  - id: hooli\n    rotation: "3"\n'),
        having(21, (*T3, "rotation"), "valid integer", "'3'"),
    ),
    # --- secrets -------------------------------------------------------------------------------
    case(
        "secret-provider-key",
        plus("  - id: hooli\n    labels:\n      key: sk-abcdefghijklmnopqrstuvwx\n"),
        secret(22, (*T3, "labels", "key"), "provider API key (sk-...)"),
    ),
    case(
        "secret-jwt",
        plus("  - id: hooli\n    labels:\n      tok: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc\n"),
        secret(22, (*T3, "labels", "tok"), "JSON web token"),
    ),
    case(
        "secret-aws-access-key",
        plus("  - id: hooli\n    labels:\n      aws: AKIAIOSFODNN7EXAMPLE\n"),
        having(22, (*T3, "labels", "aws"), "AWS access key", SECRET_HINT),
    ),
    case(
        "secret-github-token",
        plus("  - id: hooli\n    labels:\n      gh: ghp_" + "aB3" * 12 + "\n"),
        secret(22, (*T3, "labels", "gh"), "GitHub token"),
    ),
    case(
        "secret-random-label-value",
        plus("  - id: hooli\n    labels:\n      x: Zq8vT2mKp9LxW4rB7nYc3HdF\n"),
        secret(22, (*T3, "labels", "x"), "secret (long random string)"),
    ),
    case(
        "secret-as-label-key",
        plus("  - id: hooli\n    labels:\n      sk-abcdefghijklmnopqrstuvwx: x\n"),
        secret(22, (*T3, "labels", "sk-abcdefghijklmnopqrstuvwx"), "provider API key (sk-...)"),
    ),
    case(
        "secret-under-unknown-key",
        plus("  - id: hooli\n    api_key: sk-abcdefghijklmnopqrstuvwx\n"),
        exact(21, (*T3, "api_key"), "unknown key 'api_key'"),
        secret(21, (*T3, "api_key"), "provider API key (sk-...)"),
    ),
    # --- version -------------------------------------------------------------------------------
    case(
        "version-2",
        swap("version: 1", "version: 2"),
        exact(1, ("version",), "unsupported version 2; this tool reads version: 1"),
    ),
    case(
        "version-string",
        swap("version: 1", 'version: "1"'),
        exact(1, ("version",), "unsupported version '1'; this tool reads version: 1"),
    ),
    case(
        "version-bool",
        swap("version: 1", "version: true"),
        exact(1, ("version",), "unsupported version True; this tool reads version: 1"),
    ),
    case(
        "version-missing",
        swap("version: 1\n", ""),
        exact(0, ("version",), "required key is missing; this tool reads version: 1"),
    ),
    # --- YAML syntax ---------------------------------------------------------------------------
    case(
        "yaml-tab-indent",
        swap("    plan: pro", "\tplan: pro"),
        exact(16, (), "YAML syntax error: found character '\\t' that cannot start any token"),
    ),
    case(
        "yaml-bad-indent",
        swap("    plan: pro", "      plan: pro"),
        exact(16, (), "YAML syntax error: mapping values are not allowed here"),
    ),
    case(
        "yaml-unclosed-quote",
        swap("domain: tenants.example.com", "domain: 'tenants.example.com"),
        having(2, (), "YAML syntax error"),
    ),
    case(
        "yaml-second-document",
        BASE + "---\nversion: 1\n",
        having(20, (), "YAML syntax error", "another document"),
    ),
    case(
        "yaml-python-tag",
        swap("version: 1", "version: !!python/object:os.system {}"),
        having(1, (), "YAML syntax error", "python/object:os.system"),
    ),
    case(
        "yaml-duplicate-top-key",
        swap("domain: tenants.example.com\n", "domain: tenants.example.com\ndomain: other.example.com\n"),
        having(3, (), "YAML syntax error", 'duplicate key "domain"'),
    ),
    case(
        "yaml-duplicate-tenant-key",
        swap("    plan: pro\n", "    plan: pro\n    plan: basic\n"),
        having(17, (), "YAML syntax error", 'duplicate key "plan"'),
    ),
    # --- document shape ------------------------------------------------------------------------
    case(
        "empty-file",
        "",
        exact(0, (), "file is empty; a fleet needs version: 1, domain, targets and tenants"),
    ),
    case(
        "whitespace-only",
        "  \n\n\t \n",
        exact(0, (), "file is empty; a fleet needs version: 1, domain, targets and tenants"),
    ),
    case(
        "comments-only",
        "# a fleet, some day\n",
        having(0, (), "empty"),
    ),
    case(
        "top-level-list",
        "- version: 1\n- domain: tenants.example.com\n",
        exact(0, (), f"the top level must be a mapping of {TOP_KEYS}; got a list"),
    ),
    case(
        "top-level-scalar",
        "tenants.example.com\n",
        having(0, (), f"the top level must be a mapping of {TOP_KEYS}; got a "),
    ),
    case(
        "tenants-a-mapping",
        swap("  - id: acme\n", "  acme: {}\n", BASE.split("  - id: globex", maxsplit=1)[0]),
        exact(13, ("tenants",), "must be a list; got a mapping"),
    ),
    case(
        "tenants-a-scalar",
        BASE.split("tenants:", maxsplit=1)[0] + "tenants: acme\n",
        exact(13, ("tenants",), "must be a list; got a str"),
    ),
    case(
        "tenant-a-scalar",
        swap("  - id: acme\n", "  - acme\n"),
        exact(14, ("tenants", 0), "each tenant must be a mapping with at least an id; got a str"),
    ),
    case(
        "tenant-a-list",
        swap("  - id: acme\n", "  - [acme]\n"),
        exact(14, ("tenants", 0), "each tenant must be a mapping with at least an id; got a list"),
    ),
    case(
        "unknown-top-level-key",
        BASE + "extra: 1\n",
        exact(20, ("extra",), f"unknown key 'extra'; allowed: {TOP_KEYS}"),
    ),
    case(
        "misspelled-top-level-key",
        swap("defaults:\n", "tennants: []\ndefaults:\n"),
        exact(10, ("tennants",), f"unknown key 'tennants'; allowed: {TOP_KEYS}"),
    ),
    case(
        "unknown-tenant-key",
        swap("    plan: pro\n", "    plan: pro\n    size: large\n"),
        exact(17, ("tenants", 1, "size"), "unknown key 'size'"),
    ),
    case(
        "images-not-a-mapping",
        before_targets("images: nginx\n"),
        exact(3, ("images",), "must be a mapping; got a str"),
    ),
    case(
        "plans-not-a-mapping",
        before_targets("plans: [basic]\n"),
        exact(3, ("plans",), "must be a mapping; got a list"),
    ),
    # --- targets -------------------------------------------------------------------------------
    case(
        "target-type-unknown",
        swap("type: docker", "type: nomad"),
        having(5, ("targets", "local", "type"), "'nomad'", "'docker'", "'kubernetes'"),
    ),
    case(
        "target-type-missing",
        swap("    type: docker\n", ""),
        having(4, ("targets", "local", "type"), "missing", "docker"),
    ),
    case(
        "target-not-a-mapping",
        swap(
            "  local:\n    type: docker\n    capacity:\n      cpus: 8\n      memory_gib: 32\n      networks: 10\n",
            "  local: docker\n",
        ),
        having(4, ("targets", "local"), "valid dictionary", "got 'docker'"),
    ),
    case(
        "targets-a-list",
        swap("targets:\n  local:\n", "targets:\n  - local:\n"),
        exact(3, ("targets",), "must be a mapping; got a list"),
    ),
    case(
        "targets-empty",
        swap("targets:\n  local:\n    type: docker\n    capacity:\n", "targets: {}\nunused:\n  x:\n    y:\n"),
        exact(3, ("targets",), "at least one target is required, e.g. local: {type: docker, capacity: ...}"),
        exact(4, ("unused",), f"unknown key 'unused'; allowed: {TOP_KEYS}"),
    ),
    case(
        "target-name-invalid",
        swap("  local:\n", "  Local_1:\n"),
        exact(
            4,
            ("targets", "Local_1"),
            "target name 'Local_1' must be lowercase letters, digits and '-' (at most 32)",
        ),
    ),
    case(
        "target-capacity-missing",
        swap("    capacity:\n      cpus: 8\n      memory_gib: 32\n      networks: 10\n", "    egress: models\n"),
        exact(4, ("targets", "local", "capacity"), "required key is missing"),
    ),
    case(
        "target-capacity-networks-missing",
        swap("      networks: 10\n", ""),
        exact(6, ("targets", "local", "capacity", "networks"), "required key is missing"),
    ),
    case(
        "capacity-cpus-exceeded",
        swap("cpus: 8", "cpus: 3"),
        exact(
            7,
            ("targets", "local", "capacity", "cpus"),
            "target 'local': active tenants need 4 CPUs but capacity is 3 x overcommit 1 = 3",
        ),
    ),
    case(
        "capacity-memory-exceeded",
        swap("memory_gib: 32", "memory_gib: 7"),
        exact(
            8,
            ("targets", "local", "capacity", "memory_gib"),
            "target 'local': active tenants need 8 GiB memory but capacity is 7 x overcommit 1 = 7 GiB",
        ),
    ),
    case(
        "capacity-networks-exceeded",
        swap("networks: 10", "networks: 3"),
        exact(
            9,
            ("targets", "local", "capacity", "networks"),
            "target 'local': 3 tenant networks + 1 edge network exceed the 3 its daemon's address "
            "pools allow; widen default-address-pools (README)",
        ),
    ),
    case(
        "capacity-networks-counts-suspended",
        swap("networks: 10", "networks: 4") + "  - id: hooli\n    state: suspended\n",
        having(9, ("targets", "local", "capacity", "networks"), "'local'", "4 tenant networks", "the 4 "),
    ),
    case(
        "capacity-networks-not-a-number",
        swap("networks: 10", "networks: many"),
        having(9, ("targets", "local", "capacity", "networks"), "valid integer", "'many'"),
    ),
    case(
        "overcommit-below-one",
        swap("    type: docker\n", "    type: docker\n    overcommit:\n      cpu: 0.5\n"),
        exact(
            7,
            ("targets", "local", "overcommit", "cpu"),
            "Input should be greater than or equal to 1; got 0.5",
        ),
    ),
    case(
        "edge-address-hostname",
        swap("    type: docker\n", "    type: docker\n    edge:\n      address: localhost\n"),
        exact(
            7,
            ("targets", "local", "edge", "address"),
            "'localhost' does not appear to be an IPv4 or IPv6 address",
        ),
    ),
    case(
        "edge-address-out-of-range",
        swap("    type: docker\n", "    type: docker\n    edge:\n      address: 999.1.1.1\n"),
        exact(
            7,
            ("targets", "local", "edge", "address"),
            "'999.1.1.1' does not appear to be an IPv4 or IPv6 address",
        ),
    ),
    case(
        "edge-port-out-of-range",
        swap("    type: docker\n", "    type: docker\n    edge:\n      port: 70000\n"),
        exact(7, ("targets", "local", "edge", "port"), "Input should be less than or equal to 65535; got 70000"),
    ),
    case(
        "host-plain-path",
        swap("    type: docker\n", "    type: docker\n    host: /var/run/docker.sock\n"),
        having(
            6,
            ("targets", "local", "host"),
            "unix://PATH, tcp://HOST:PORT or ssh://USER@HOST",
            "'/var/run/docker.sock'",
        ),
    ),
    case(
        "host-http-url",
        swap("    type: docker\n", "    type: docker\n    host: http://docker:2375\n"),
        having(
            6,
            ("targets", "local", "host"),
            "unix://PATH, tcp://HOST:PORT or ssh://USER@HOST",
            "'http://docker:2375'",
        ),
    ),
    case(
        "egress-unknown",
        swap("    type: docker\n", "    type: docker\n    egress: proxy\n"),
        exact(
            6,
            ("targets", "local", "egress", "mode"),
            "Input should be 'none', 'models', 'internet' or 'direct-unfiltered'; got 'proxy'",
        ),
    ),
    case(
        "egress-direct-renamed",
        swap("    type: docker\n", "    type: docker\n    egress: direct\n"),
        exact(
            6,
            ("targets", "local", "egress"),
            "egress 'direct' is now 'direct-unfiltered': it lets tenants reach cloud metadata, the host and "
            "private networks; use 'internet' (public addresses on allowed ports) or 'models'",
        ),
    ),
    case(
        "egress-resolver-not-an-address",
        swap("    type: docker\n", "    type: docker\n    egress: {mode: internet, resolver: dns.example.com}\n"),
        exact(
            6,
            ("targets", "local", "egress", "resolver"),
            "resolver must be an IP address like 10.0.0.2, not 'dns.example.com'",
        ),
    ),
    case(
        "egress-excluded-not-a-cidr",
        swap("    type: docker\n", "    type: docker\n    egress: {mode: internet, excluded: [203.0.113.0/33]}\n"),
        having(6, ("targets", "local", "egress", "excluded"), "'203.0.113.0/33' is not a CIDR"),
    ),
    case(
        "plan-egress-direct-renamed",
        swap("tenants:\n", "plans:\n  pro:\n    egress: direct\ntenants:\n"),
        having(15, ("plans", "pro", "egress"), "egress 'direct' is now 'direct-unfiltered'"),
    ),
    case(
        "address-pool-invalid",
        swap("    type: docker\n", "    type: docker\n    address_pools: [10.0.0.0/33]\n"),
        exact(
            6,
            ("targets", "local", "address_pools"),
            "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network",
        ),
    ),
    # --- images --------------------------------------------------------------------------------
    case(
        "proxy-image-untagged",
        before_targets("images:\n  proxy: nginx\n"),
        having(4, ("images", "proxy"), PINNED, "'nginx'"),
    ),
    case(
        "proxy-image-latest",
        before_targets("images:\n  proxy: nginx:latest\n"),
        having(4, ("images", "proxy"), PINNED, "'nginx:latest'"),
    ),
    case(
        "proxy-image-registry-port-no-tag",
        before_targets("images:\n  proxy: registry.local:5000/nginx\n"),
        having(4, ("images", "proxy"), PINNED, "'registry.local:5000/nginx'"),
    ),
    case(
        "openclaw-image-with-tag",
        before_targets("images:\n  openclaw: ghcr.io/openclaw/openclaw:latest\n"),
        having(
            4,
            ("images", "openclaw"),
            "must be an image repository without a tag",
            "'ghcr.io/openclaw/openclaw:latest'",
        ),
    ),
    # --- plans ---------------------------------------------------------------------------------
    case(
        "custom-plan-missing-fields",
        before_targets("plans:\n  mini:\n    cpus: 0.5\n    memory_gib: 1\n"),
        *(
            exact(4, ("plans", "mini", field), "required key is missing")
            for field in (
                "burst",
                "max",
                "model_budget_usd",
                "model_rpm",
                "model_tpm",
                "models",
                "monthly_price",
                "pids_limit",
                "rate_limit_rps",
                "storage_gib",
            )
        ),
    ),
    case(
        "custom-plan-base-above-max",
        before_targets(
            "plans:\n  mini:\n    cpus: 2\n    memory_gib: 1\n    storage_gib: 1\n"
            "    max: {cpus: 1, memory_gib: 1, storage_gib: 1, model_budget_usd: '1', model_rpm: 1, model_tpm: 1}\n"
            "    pids_limit: 64\n    rate_limit_rps: 1\n    burst: 0\n    monthly_price: '1.00'\n"
            "    model_budget_usd: '1.00'\n    model_rpm: 1\n    model_tpm: 1\n    models: [kimi-k2.6]\n"
        ),
        having(5, ("plans", "mini", "cpus"), "cpus 2.0 is above this plan's max.cpus 1.0"),
    ),
    case(
        "builtin-plan-base-above-max",
        before_targets("plans:\n  basic:\n    cpus: 3\n"),
        having(5, ("plans", "basic", "cpus"), "cpus 3.0 is above this plan's max.cpus 2.0"),
    ),
    case(
        "builtin-plan-field-invalid",
        before_targets("plans:\n  basic:\n    rate_limit_rps: 0\n"),
        exact(5, ("plans", "basic", "rate_limit_rps"), "Input should be greater than or equal to 1; got 0"),
    ),
    case(
        "builtin-plan-not-a-mapping",
        before_targets("plans:\n  basic: 5\n"),
        having(4, ("plans", "basic"), "must be a mapping of plan fields"),
    ),
    case(
        "plan-name-invalid",
        before_targets("plans:\n  Gold:\n    cpus: 1\n"),
        exact(4, ("plans", "Gold"), "plan name 'Gold' must be lowercase letters, digits and '-' (at most 32)"),
    ),
    # --- domain --------------------------------------------------------------------------------
    case(
        "domain-uppercase",
        swap("domain: tenants.example.com", "domain: Tenants.Example.com"),
        exact(2, ("domain",), "'Tenants.Example.com' is not a lowercase DNS name like tenants.example.com"),
    ),
    case(
        "domain-with-scheme",
        swap("domain: tenants.example.com", "domain: https://tenants.example.com"),
        exact(
            2,
            ("domain",),
            "'https://tenants.example.com' is not a lowercase DNS name like tenants.example.com",
        ),
    ),
    case(
        "domain-empty-label",
        swap("domain: tenants.example.com", "domain: tenants..example.com"),
        exact(2, ("domain",), "'tenants..example.com' is not a lowercase DNS name like tenants.example.com"),
    ),
    case(
        "domain-a-number",
        swap("domain: tenants.example.com", "domain: 42"),
        exact(2, ("domain",), "must be a DNS name like tenants.example.com; got 42"),
    ),
    case(
        "domain-missing",
        swap("domain: tenants.example.com\n", ""),
        exact(0, ("domain",), "required key is missing; the tenants' base DNS name, like tenants.example.com"),
    ),
    # --- channels ------------------------------------------------------------------------------
    case(
        "channel-latest",
        before_targets("channels:\n  stable: latest\n"),
        exact(
            4,
            ("channels", "stable"),
            "channel 'stable' must pin an exact OpenClaw version like 2026.9.6, not 'latest'",
        ),
    ),
    case(
        "channel-two-part-version",
        before_targets("channels:\n  beta: '2026.9'\n"),
        exact(
            4,
            ("channels", "beta"),
            "channel 'beta' must pin an exact OpenClaw version like 2026.9.6, not '2026.9'",
        ),
    ),
    case(
        "channel-version-a-number",
        before_targets("channels:\n  beta: 2026.9\n"),
        exact(4, ("channels", "beta"), 'must be an exact OpenClaw version string like "2026.9.6"; got 2026.9'),
    ),
    case(
        "channel-name-invalid",
        before_targets("channels:\n  Beta: 2026.9.6\n"),
        exact(4, ("channels", "Beta"), "channel name 'Beta' must be lowercase letters, digits and '-'"),
    ),
    # --- defaults ------------------------------------------------------------------------------
    case(
        "defaults-unknown-plan",
        swap("defaults:\n", "defaults:\n  plan: gold\n"),
        exact(11, ("defaults", "plan"), "unknown plan 'gold'; known: basic, enterprise, pro"),
    ),
    case(
        "defaults-unknown-target",
        swap("  target: local\n", "  target: remote\n"),
        exact(11, ("defaults", "target"), "unknown target 'remote'; known: local"),
    ),
    case(
        "defaults-unknown-channel",
        swap("defaults:\n", "defaults:\n  channel: nightly\n"),
        exact(11, ("defaults", "channel"), "unknown channel 'nightly'; known: canary, stable"),
    ),
    case(
        "defaults-unknown-provider",
        swap("  model_provider: kimi\n", "  model_provider: gpt\n"),
        exact(12, ("defaults", "model_provider"), f"{PROVIDERS}; got 'gpt'"),
    ),
    case(
        "target-missing-without-default",
        swap("  target: local\n", ""),
        exact(13, ("tenants", 0, "target"), "required key is missing and defaults.target is not set"),
        exact(14, ("tenants", 1, "target"), "required key is missing and defaults.target is not set"),
        exact(16, ("tenants", 2, "target"), "required key is missing and defaults.target is not set"),
    ),
    case(
        "provider-missing-without-default",
        swap("  model_provider: kimi\n", ""),
        exact(
            13,
            ("tenants", 0, "model_provider"),
            "required key is missing and defaults.model_provider is not set",
        ),
        exact(
            14,
            ("tenants", 1, "model_provider"),
            "required key is missing and defaults.model_provider is not set",
        ),
    ),
    # --- labels --------------------------------------------------------------------------------
    case(
        "label-key-reserved-openclaw",
        swap("    plan: pro\n", "    plan: pro\n    labels:\n      openclaw.io/tier: gold\n"),
        having(18, ("tenants", 1, "labels", "openclaw.io/tier"), "'openclaw.io/tier'", "reserved prefix"),
    ),
    case(
        "label-key-reserved-kubernetes",
        swap("    plan: pro\n", "    plan: pro\n    labels:\n      app.kubernetes.io/name: x\n"),
        having(
            18,
            ("tenants", 1, "labels", "app.kubernetes.io/name"),
            "'app.kubernetes.io/name'",
            "reserved prefix",
        ),
    ),
    case(
        "label-value-with-space",
        swap("    plan: pro\n", "    plan: pro\n    labels:\n      team: 'a b'\n"),
        exact(
            18,
            ("tenants", 1, "labels", "team"),
            "label value 'a b' is not valid: at most 63 of A-Z a-z 0-9 . _ -",
        ),
    ),
    case(
        "label-value-a-number",
        swap("    plan: pro\n", "    plan: pro\n    labels:\n      account: 1001\n"),
        exact(18, ("tenants", 1, "labels", "account"), "Input should be a valid string; got 1001"),
    ),
]


def test_there_are_at_least_60_distinct_cases() -> None:
    texts = [param.values[0] for param in CASES]  # type: ignore[attr-defined]
    assert len(set(texts)) == len(texts) >= 60


@pytest.mark.parametrize(("text", "wants"), CASES)
def test_invalid_fleet(text: str, wants: tuple[Want, ...]) -> None:
    problems = problems_of(text)
    render = "\n".join(p.render(SOURCE) for p in problems)

    def order(item: Problem | Want) -> tuple[int, str]:
        return item.line, format_path(item.path)

    got = sorted(problems, key=order)
    assert [order(p) for p in got] == sorted(order(w) for w in wants), render
    for problem, want in zip(got, sorted(wants, key=order), strict=True):
        want.check(problem, render)


# --- several problems at once -----------------------------------------------------------------

FIVE_PROBLEMS = """\
version: 1
domain: tenants.example.com
targets:
  local:
    type: docker
    capacity: {cpus: 64, memory_gib: 256, networks: 30}
defaults: {target: local, model_provider: kimi}
tenants:
  - id: Acme
  - id: globex
    plan: gold
  - id: initech
    state: gone
  - id: hooli
    overrides:
      cpus: 9
  - id: umbrella
    rotation: -1
"""


def test_every_independent_problem_is_reported_sorted_by_line() -> None:
    problems = problems_of(FIVE_PROBLEMS)
    assert [(p.line, format_path(p.path)) for p in problems] == [
        (9, "tenants[0].id"),
        (11, "tenants[1].plan"),
        (13, "tenants[2].state"),
        (16, "tenants[3].overrides.cpus"),
        (18, "tenants[4].rotation"),
    ]
    assert [p.line for p in problems] == sorted(p.line for p in problems)


def test_render_lists_every_problem_under_a_count() -> None:
    with pytest.raises(FleetError) as info:
        parse_fleet(FIVE_PROBLEMS, SOURCE)
    lines = info.value.render().splitlines()
    assert lines[0] == f"{SOURCE}: 5 problems found"
    assert len(lines) == 6
    for line, problem in zip(lines[1:], info.value.problems, strict=True):
        assert line.strip() == f"{SOURCE}:{problem.line}: {format_path(problem.path)}: {problem.message}"
    assert lines[2].strip() == (f"{SOURCE}:11: tenants[1].plan: unknown plan 'gold'; known: basic, enterprise, pro")
    assert str(info.value) == info.value.render()


def test_render_of_one_problem_is_singular() -> None:
    with pytest.raises(FleetError) as info:
        parse_fleet(swap("version: 1", "version: 2"), SOURCE)
    assert info.value.render().splitlines() == [
        f"{SOURCE}: 1 problem found",
        f"  {SOURCE}:1: version: unsupported version 2; this tool reads version: 1",
    ]


def test_problem_without_line_renders_without_one() -> None:
    assert Problem(0, ("domain",), "required").render(SOURCE) == f"{SOURCE}: domain: required"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "(document)"),
        (("version",), "version"),
        (("tenants", 2, "overrides", "cpus"), "tenants[2].overrides.cpus"),
        (("targets", "local", "capacity", "networks"), "targets.local.capacity.networks"),
        (("tenants", 0), "tenants[0]"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text


# --- files that once broke the loader ---------------------------------------------------------


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(BASE + "extra: &loop [*loop]\n", id="self-referencing-list"),
        pytest.param(swap("  - id: acme\n", "  - id: acme\n    labels: &l {a: *l}\n"), id="self-referencing-map"),
    ],
)
def test_recursive_aliases_are_a_problem_not_a_crash(text: str) -> None:
    problems = problems_of(text)
    assert problems


@pytest.mark.parametrize(
    ("text", "line", "path"),
    [
        pytest.param(
            swap("  - id: acme\n", "  - {id: AB, 1: 2}\n"),
            14,
            ("tenants", 0, "id"),
            id="int-key-beside-bad-id",
        ),
        pytest.param(
            swap("  - id: acme\n", "  - {id: acme, labels: {1: a, b: 2}}\n"),
            14,
            ("tenants", 0, "labels", "b"),
            id="int-and-str-label-keys",
        ),
    ],
)
def test_non_string_keys_beside_other_problems(text: str, line: int, path: tuple[str | int, ...]) -> None:
    problems = problems_of(text)
    assert (line, path) in [(p.line, p.path) for p in problems]
    assert len(problems) == 2


def test_alias_expansion_is_refused_quickly() -> None:
    """A "billion laughs" document (10**8 strings through shared aliases) is one problem, at once."""
    lines = ["l0: &l0 [aaaaaaaaaa, bbbbbbbbbb, cccccccccc, dddddddddd, eeeeeeeeee]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 8)]
    with time_limit(3):
        problems = problems_of(BASE + "\n".join(lines) + "\n")
    assert [(p.path, p.message) for p in problems] == [
        ((), "YAML aliases expand this document to 67,901,256 values (more than 1,000,000)")
    ]


def test_shared_aliases_within_limits_are_fine() -> None:
    fleet = parse_fleet(
        swap("    plan: pro\n", "    plan: pro\n    labels: &team {team: core}\n")
        + "  - id: hooli\n    labels: *team\n"
    )
    assert fleet.tenant("hooli").labels == {"team": "core"}


# --- files on disk and the CLI ----------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FleetError) as info:
        load_fleet(tmp_path / "nope.yaml")
    (problem,) = info.value.problems
    assert problem.line == 0
    assert problem.message.startswith("cannot read file: ")


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(swap("domain: tenants.example.com", "domain: caf\xe9.example.com").encode("latin-1"))
    with pytest.raises(FleetError) as info:
        load_fleet(path)
    (problem,) = info.value.problems
    assert problem.message.startswith("cannot read file: ")
    assert info.value.source == str(path)


def test_cli_validate_invalid_file_prints_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text(FIVE_PROBLEMS, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}: 5 problems found" in result.output
    for line, where in ((9, "tenants[0].id"), (11, "tenants[1].plan"), (13, "tenants[2].state")):
        assert f"{path}:{line}: {where}: " in result.output
    assert f"{path}:16: tenants[3].overrides.cpus: 9.0 is above plan 'basic' max 2.0" in result.output
    assert f"{path}:18: tenants[4].rotation: Input should be greater than or equal to 0; got -1" in result.output
    assert "valid (" not in result.output


def test_cli_validate_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 1
    assert "cannot read file" in result.output


def test_cli_validate_example_fleet() -> None:
    example = Path(__file__).resolve().parents[2] / "tenants.yaml"
    fleet = load_fleet(example)
    result = CliRunner().invoke(app, ["validate", str(example)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{example}: valid ({len(fleet.tenants)} tenants: ")
