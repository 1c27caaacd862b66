"""Whatever the text, parse_fleet returns a Fleet or raises FleetError, never anything else."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from tenants.errors import FleetError
from tenants.load import parse_fleet
from tenants.model import Fleet
from tests.unit.fleets import BASE

# ~300 examples in all; deterministic so a red build is reproducible, no example database on disk.
FUZZ = settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


YAML_PIECES = st.sampled_from([*" -:\t\n{}[]&*!'\"#|>?,%@`a1.~", "id", "tenants", "version: 1\n"])


def check(text: str) -> None:
    try:
        fleet = parse_fleet(text, "fuzz.yaml")
    except FleetError as exc:
        assert exc.problems, "a FleetError must name at least one problem"
        last_line = text.count("\n") + 2
        for problem in exc.problems:
            assert 0 <= problem.line <= last_line, problem
            assert problem.message
        assert exc.render().startswith("fuzz.yaml: ")
    else:
        assert isinstance(fleet, Fleet)


def dump(data: Any) -> str:
    stream = io.StringIO()
    YAML(typ="safe").dump(data, stream)
    return stream.getvalue()


KEYS = st.sampled_from(
    [
        # top level, tenant, target and plan keys, so generated documents reach deep validation
        "version", "domain", "images", "channels", "defaults", "plans", "targets", "tenants",
        "id", "plan", "target", "model_provider", "state", "shard", "channel", "labels", "overrides",
        "rotation", "type", "capacity", "cpus", "memory_gib", "storage_gib", "networks", "edge",
        "address", "port", "host", "max", "proxy", "openclaw", "basic", "local", "docker",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["docker", "local", "basic", "kimi", "acme", "1", "2026.9.6", "sk-" + "a1B2" * 6])
)
ANY_KEY = KEYS | st.text(max_size=12) | st.integers(-5, 5) | st.booleans() | st.none()
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(ANY_KEY, children, max_size=5),
    max_leaves=25,
)


@settings(FUZZ, max_examples=70)
@given(st.text(max_size=300) | st.lists(YAML_PIECES, max_size=60).map("".join))
def test_arbitrary_text(text: str) -> None:
    check(text)


@settings(FUZZ, max_examples=70)
@given(VALUES)
def test_arbitrary_yaml_documents(data: Any) -> None:
    check(dump(data))


TENANTS = st.lists(
    st.dictionaries(ANY_KEY, VALUES, max_size=4).map(lambda d: {"id": "acme", **d})
    | st.fixed_dictionaries({"id": st.text(max_size=8)}, optional={"plan": SCALARS, "overrides": VALUES}),
    max_size=4,
)
FLEETS = st.fixed_dictionaries(
    {
        "version": st.sampled_from([1, 1, 1, 2, "1", None]),
        "domain": st.sampled_from(["t.example.com", "", 5]),
    },
    optional={
        "targets": st.dictionaries(
            st.sampled_from(["local", "Local", 3]),
            st.fixed_dictionaries({"type": st.sampled_from(["docker", "k8s"])}, optional={"capacity": VALUES}),
            max_size=2,
        )
        | VALUES,
        "defaults": st.dictionaries(KEYS, SCALARS, max_size=4),
        "plans": st.dictionaries(st.sampled_from(["basic", "pro", "mini", 7]), VALUES, max_size=2),
        "channels": st.dictionaries(st.sampled_from(["stable", "beta", "Bad"]), SCALARS, max_size=2),
        "tenants": TENANTS | VALUES,
    },
)


@settings(FUZZ, max_examples=80)
@given(FLEETS)
def test_fleet_shaped_documents(data: dict[str, Any]) -> None:
    check(dump(data))


EDITS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace", "dup-line", "drop-line"]),
        st.integers(0, len(BASE)),
        st.text(alphabet=st.sampled_from(list(" -:\t\n{}[]&*!'\"#|>?,%@`a1.~")), min_size=1, max_size=5),
    ),
    min_size=1,
    max_size=4,
)


def mutate(text: str, edits: list[tuple[str, int, str]]) -> str:
    for kind, offset, chunk in edits:
        position = min(offset, len(text))
        lines = text.splitlines(keepends=True)
        line = min(text.count("\n", 0, position), max(len(lines) - 1, 0))
        if kind == "insert":
            text = text[:position] + chunk + text[position:]
        elif kind == "delete":
            text = text[:position] + text[position + len(chunk) :]
        elif kind == "replace":
            text = text[:position] + chunk + text[position + len(chunk) :]
        elif lines and kind == "dup-line":
            text = "".join(lines[: line + 1] + lines[line:])
        elif lines:
            text = "".join(lines[:line] + lines[line + 1 :])
    return text


@settings(FUZZ, max_examples=80)
@given(EDITS)
def test_mutations_of_a_valid_fleet(edits: list[tuple[str, int, str]]) -> None:
    check(mutate(BASE, edits))
