"""find_credentials and looks_random: provider key shapes are refused, ordinary values are not."""

from __future__ import annotations

from typing import Any

import pytest

from tenants.secrets_scan import HINT, find_credentials, looks_random, shannon_bits

SK = "sk-abcdefghijklmnopqrstuvwx"
SK_PROJECT = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8t"
SK_ANTHROPIC = "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1w"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"
AWS = "AKIAIOSFODNN7EXAMPLE"
AWS_TEMPORARY = "ASIAY34FZKBOKMUTVV7A"
GITHUB = "ghp_" + "aB3" * 12
GITHUB_OAUTH = "gho_" + "Zx9" * 11
SLACK = "xoxb-1234567890-abcdefghij"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
RANDOM_TOKEN = "Zq8vT2mKp9LxW4rB7nYc3HdF"
HEX_TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def found(data: Any) -> list[tuple[tuple[str | int, ...], str]]:
    return list(find_credentials(data))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (SK, "provider API key (sk-...)"),
        (SK_PROJECT, "provider API key (sk-...)"),
        (SK_ANTHROPIC, "provider API key (sk-...)"),
        (JWT, "JSON web token"),
        (AWS, "AWS access key"),
        (AWS_TEMPORARY, "AWS access key"),
        (GITHUB, "GitHub token"),
        (GITHUB_OAUTH, "GitHub token"),
        (SLACK, "Slack token"),
        (PRIVATE_KEY, "private key"),
        (RANDOM_TOKEN, "secret (long random string)"),
        (HEX_TOKEN, "secret (long random string)"),
    ],
)
def test_credential_shapes_are_flagged_with_the_fix(value: str, kind: str) -> None:
    [(path, message)] = found({"tenants": [{"id": "acme", "labels": {"note": value}}]})
    assert path == ("tenants", 0, "labels", "note")
    article = "an" if kind[0] in "AEIOU" else "a"
    assert message == f"value looks like {article} {kind}; {HINT}"
    assert "pulumi config set --secret" in message


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"domain": SK}, ("domain",)),
        ({"api_key": SK}, ("api_key",)),
        ({"tenants": [{"id": "acme", "token": GITHUB}]}, ("tenants", 0, "token")),
        ({"tenants": [{"labels": {SK: "x"}}]}, ("tenants", 0, "labels", SK)),  # a key
        ({"targets": {"local": {"host": f"ssh://{SK}@host"}}}, ("targets", "local", "host")),
        ({"images": {"proxy": f"nginx:{SK}"}}, ("images", "proxy")),
        ({"targets": {"local": {"address_pools": [AWS]}}}, ("targets", "local", "address_pools", 0)),
        ({"x": [[[{"y": f"prefix {JWT} suffix"}]]]}, ("x", 0, 0, 0, "y")),
        ({"url": f"https://hooks.example.com/?token={SK}"}, ("url",)),
        ([SLACK], (0,)),
        (SK, ()),
    ],
    ids=[
        "domain",
        "unknown-key",
        "tenant-field",
        "label-key",
        "host",
        "image",
        "address-pool",
        "nested-in-text",
        "in-a-url",
        "top-level-list",
        "bare-string",
    ],
)
def test_shapes_are_flagged_anywhere(data: Any, path: tuple[str | int, ...]) -> None:
    assert [p for p, _ in found(data)] == [path]


def test_every_credential_is_reported_once() -> None:
    data = {"a": SK, "b": [AWS, "fine"], "c": {"d": GITHUB, "e": f"{SK} and {JWT}"}}
    assert [path for path, _ in found(data)] == [("a",), ("b", 0), ("c", "d"), ("c", "e")]


def test_entropy_is_not_checked_in_structured_fields() -> None:
    digest = f"docker.io/library/nginx@sha256:{HEX_TOKEN}"
    data = {
        "images": {"proxy": digest, "openclaw": "ghcr.io/OpenClaw/openclaw"},
        "domain": "Xk9-tenants-2026-Prod.example.com",
        "targets": {"local": {"host": "tcp://Docker-Host-01.example.com:2376", "address_pools": ["10.0.0.0/8"]}},
    }
    assert found(data) == []
    assert [p for p, _ in found({"tenants": [{"labels": {"digest": HEX_TOKEN}}]})] == [
        ("tenants", 0, "labels", "digest")
    ]


ORDINARY = [
    # words and names
    "acme",
    "globex",
    "initech-eu-west-1",
    "billing-account",
    "customer-success-team-2026",
    "supercalifragilisticexpialidocious",
    "Billing-Account-2026-Q3-Invoice",
    "the quick brown fox jumps over the lazy dog, twice in 2026",
    "task-abcdefghijklmnopqrstuvwxyz",  # "sk-" inside a word is not a key
    "risk-assessment-for-tenant-onboarding",
    "ghp_short",
    "AKIA-not-a-key",
    "eyJ",
    # tenant ids, plans, providers
    "a" * 40,
    "1password",
    "enterprise",
    "openrouter",
    # images
    "ghcr.io/openclaw/openclaw",
    "ghcr.io/openclaw/openclaw:2026.9.6",
    "docker.io/library/nginx:1.27.5",
    "registry.local:5000/mirror/openclaw",
    # URLs, hosts, domains, addresses
    "https://tenants.example.com",
    "https://github.com/OpenClaw/openclaw/releases/v2026.9.6",
    "https://docs.example.com/Guides/Setup2026",
    "unix:///var/run/docker.sock",
    "ssh://deploy@docker-01.example.com",
    "tenants.example.com",
    "acme.tenants.example.com",
    "172.16.0.0/12",
    "fd00::1",
    # numbers, versions, short strings
    "1001",
    "2026.9.6",
    "29.00",
    "",
    "x",
    "Ab1!",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1",  # long but not random
    "0123456789012345678901234567890123",
]


@pytest.mark.parametrize("value", ORDINARY)
def test_ordinary_values_are_not_flagged(value: str) -> None:
    assert found({"tenants": [{"id": "acme", "labels": {"note": value}}]}) == []
    assert found({value: "x"}) == []


def test_non_string_scalars_are_ignored() -> None:
    assert found({"a": 1, "b": 2.5, "c": None, "d": True, "e": [1, 2, 3], 7: {"f": 10**30}}) == []


@pytest.mark.parametrize("value", [RANDOM_TOKEN, HEX_TOKEN, "Kp9/Lx+W4rB7nYc3HdF=Zq8vT2m", "aB3dE6gH9jK2mN5pQ8sT1vW4"])
def test_looks_random(value: str) -> None:
    assert looks_random(value)


@pytest.mark.parametrize(
    "value",
    [
        RANDOM_TOKEN[:23],  # too short
        "Zq8vT2mK p9LxW4rB7nYc3HdF",  # a space: prose, not a token
        "abcdefghijklmnopqrstuvwxyz",  # one class
        "CamelCaseIdentifierNameHere",  # no digits
        "kebab-case-tenant-name-2026-eu",  # no upper case
        "deadbeefdeadbeefdeadbeefdeadbeef",  # hex but repetitive
        "0123456789abcdef0123456789abcde",  # hex but 31 characters
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1",  # low entropy
    ],
)
def test_does_not_look_random(value: str) -> None:
    assert not looks_random(value)


def test_shannon_bits() -> None:
    assert shannon_bits("aaaa") == 0
    assert shannon_bits("abab") == 1
    assert shannon_bits("abcd") == 2
    assert shannon_bits("0123456789abcdef") == 4
