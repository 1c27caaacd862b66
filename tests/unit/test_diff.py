"""tenantctl diff: every change kind, the destructive findings and exit codes, costs, renderers, inputs."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from harness.fleets import SMALL_FLEET, SMALL_FLEET_COST, fleet_yaml, generate_fleet, generate_fleet_yaml, mutate_fleet
from tenantctl.review import register
from tenants.cost import COST_RULE
from tenants.diff import MIGRATION_DOC, REMOVAL_DOC, FieldChange, FleetDiff, diff_fleets
from tenants.diff_report import render_json, render_markdown
from tenants.fleet_pair import FleetPairError, load_pair
from tenants.fleet_sources import FleetText, SourceError, read_fleet_text
from tenants.load import parse_fleet
from tenants.model import Fleet, Limits
from tests.unit.cli_apps import app_with

Doc = dict[str, Any]
Edit = Callable[[Doc], None]


BASE = SMALL_FLEET
BASE_COST = SMALL_FLEET_COST


def load(doc: Doc) -> Fleet:
    return parse_fleet(fleet_yaml(doc), "test.yaml")


@cache
def base_fleet() -> Fleet:
    return load(BASE)


def t(doc: Doc, tenant_id: str) -> Doc:
    return next(x for x in doc["tenants"] if x["id"] == tenant_id)


def head(*edits: Edit) -> Doc:
    doc = copy.deepcopy(BASE)
    for edit in edits:
        edit(doc)
    return doc


def diff_of(*edits: Edit) -> FleetDiff:
    return diff_fleets(base_fleet(), load(head(*edits)), base_source="base.yaml", head_source="head.yaml")


def set_(tenant_id: str, **values: Any) -> Edit:
    def edit(doc: Doc) -> None:
        t(doc, tenant_id).update(values)

    return edit


def unset(tenant_id: str, key: str) -> Edit:
    return lambda doc: t(doc, tenant_id).pop(key)


def remove(tenant_id: str) -> Edit:
    def edit(doc: Doc) -> None:
        doc["tenants"].remove(t(doc, tenant_id))

    return edit


def add(tenant: Doc) -> Edit:
    return lambda doc: doc["tenants"].append(tenant)


def limits(cpus: float, memory: float, storage: int) -> Limits:
    return Limits(cpus=cpus, memory_gib=memory, storage_gib=storage)


# --- change kinds -------------------------------------------------------------------------------


def test_no_change_is_an_empty_safe_diff() -> None:
    diff = diff_of()
    assert diff.tenants == () and diff.settings == () and diff.destructive == () and diff.affected_shards == ()
    assert diff.base_cost == diff.head_cost == BASE_COST
    assert diff.cost_delta == Decimal("0.00")
    assert diff.count() == dict.fromkeys(("added", "removed", "suspended", "resumed", "offboarded", "changed"), 0)


def test_added_tenant() -> None:
    diff = diff_of(add({"id": "newco", "plan": "pro", "target": "host-c", "shard": "us"}))
    (change,) = diff.tenants
    assert (change.id, change.kind, change.old_state, change.new_state) == ("newco", "added", None, "active")
    assert (change.old_shard, change.new_shard, change.shards) == (None, "us", ("us",))
    assert (change.old_limits, change.new_limits) == (None, limits(2, 4, 20))
    assert (change.old_cost, change.new_cost, change.cost_delta) == (Decimal(0), Decimal("99.00"), Decimal("99.00"))
    assert change.fields == ()
    assert diff.affected_shards == ("us",)
    assert diff.head_cost == BASE_COST + Decimal("99.00")
    assert diff.destructive == ()


def test_an_added_suspended_tenant_costs_nothing() -> None:
    diff = diff_of(add({"id": "newco", "plan": "pro", "target": "host-c", "shard": "us", "state": "suspended"}))
    assert diff.tenant("newco").cost_delta == Decimal(0)
    assert diff.cost_delta == Decimal(0)


def test_removing_an_offboarded_tenant_forgets_its_data() -> None:
    diff = diff_of(remove("vandelay"))
    (change,) = diff.tenants
    assert (change.kind, change.old_state, change.new_state) == ("removed", "offboarded", None)
    assert (change.old_limits, change.new_limits) == (limits(0.5, 1, 2), None)
    assert change.cost_delta == Decimal(0)
    (finding,) = diff.destructive
    assert (finding.tenant, finding.reason) == ("vandelay", "data-forgotten")
    assert diff.affected_shards == ("us",)


@pytest.mark.parametrize(
    ("tenant_id", "state", "delta"), [("acme", "active", "-29.00"), ("umbrella", "suspended", "0")]
)
def test_removing_a_live_tenant_is_destructive(tenant_id: str, state: str, delta: str) -> None:
    diff = diff_of(remove(tenant_id))
    (change,) = diff.tenants
    assert (change.kind, change.old_state, change.cost_delta) == ("removed", state, Decimal(delta))
    (finding,) = diff.destructive
    assert (finding.tenant, finding.reason) == (tenant_id, "removed-live")
    assert finding.message.startswith(f"tenant {tenant_id!r} is removed while {state}: ")
    assert f"`tenantctl offboard {tenant_id}`" in finding.message
    assert REMOVAL_DOC in finding.message and MIGRATION_DOC in finding.message


def test_suspended() -> None:
    diff = diff_of(set_("acme", state="suspended"))
    (change,) = diff.tenants
    assert (change.kind, change.old_state, change.new_state) == ("suspended", "active", "suspended")
    assert change.fields == (FieldChange("state", "active", "suspended"),)
    assert change.old_limits == change.new_limits == limits(1, 2, 5)
    assert (change.old_cost, change.new_cost, change.cost_delta) == (Decimal("29.00"), Decimal(0), Decimal("-29.00"))
    assert diff.destructive == () and diff.affected_shards == ("eu",)


@pytest.mark.parametrize(
    ("tenant_id", "old", "delta"), [("umbrella", "suspended", "29.00"), ("vandelay", "offboarded", "9.99")]
)
def test_resumed(tenant_id: str, old: str, delta: str) -> None:
    diff = diff_of(unset(tenant_id, "state"))
    (change,) = diff.tenants
    assert (change.kind, change.old_state, change.new_state) == ("resumed", old, "active")
    assert change.cost_delta == Decimal(delta)
    assert diff.destructive == () and diff.affected_shards == ("us",)


@pytest.mark.parametrize(("tenant_id", "old", "delta"), [("acme", "active", "-29.00"), ("umbrella", "suspended", "0")])
def test_offboarded_is_safe(tenant_id: str, old: str, delta: str) -> None:
    diff = diff_of(set_(tenant_id, state="offboarded"))
    (change,) = diff.tenants
    assert (change.kind, change.old_state, change.new_state, change.cost_delta) == (
        "offboarded",
        old,
        "offboarded",
        Decimal(delta),
    )
    assert diff.destructive == ()


def test_an_offboarded_tenant_brought_back_suspended_counts_as_suspended() -> None:
    (change,) = diff_of(set_("vandelay", state="suspended")).tenants
    assert (change.kind, change.old_state, change.new_state, change.cost_delta) == (
        "suspended",
        "offboarded",
        "suspended",
        0,
    )


def test_a_state_change_with_other_changes_is_named_after_the_state() -> None:
    (change,) = diff_of(set_("umbrella", state="active", plan="pro")).tenants
    assert change.kind == "resumed"
    assert change.fields[:2] == (FieldChange("state", "suspended", "active"), FieldChange("plan", "basic", "pro"))
    assert (change.old_limits, change.new_limits) == (limits(1, 2, 5), limits(2, 4, 20))
    assert change.cost_delta == Decimal("99.00")


def test_plan_upgrade() -> None:
    diff = diff_of(set_("acme", plan="pro"))
    (change,) = diff.tenants
    assert change.kind == "changed"
    assert change.fields == (
        FieldChange("plan", "basic", "pro"),
        FieldChange("pids_limit", 512, 1024),
        FieldChange("rate_limit_rps", 10, 30),
        FieldChange("burst", 20, 60),
        FieldChange("monthly_price", "29.00", "99.00"),
    )
    assert (change.old_limits, change.new_limits) == (limits(1, 2, 5), limits(2, 4, 20))
    assert (change.old_cost, change.new_cost, change.cost_delta) == (
        Decimal("29.00"),
        Decimal("99.00"),
        Decimal("70.00"),
    )
    assert diff.destructive == ()
    assert diff.cost_delta == Decimal("70.00")


def test_plan_change_of_a_suspended_tenant_costs_nothing() -> None:
    (change,) = diff_of(set_("umbrella", plan="pro")).tenants
    assert change.kind == "changed" and change.field("plan") == FieldChange("plan", "basic", "pro")
    assert change.cost_delta == Decimal(0)


def test_channel_to_another_version_changes_the_image() -> None:
    (change,) = diff_of(set_("acme", channel="next")).tenants
    assert change.fields == (
        FieldChange("channel", "stable", "next"),
        FieldChange("image", "ghcr.io/openclaw/openclaw:2026.9.6", "ghcr.io/openclaw/openclaw:2026.10.1"),
    )
    assert change.cost_delta == 0


def test_overrides_labels_provider_and_rotation() -> None:
    diff = diff_of(
        set_("globex", overrides={"cpus": 3, "memory_gib": 6}, labels={"billing-account": "2002", "tier": "gold"}),
        set_("acme", model_provider="openai", rotation=1),
    )
    globex, acme = diff.tenant("globex"), diff.tenant("acme")
    assert globex.fields == (
        FieldChange("overrides.cpus", None, 3.0),
        FieldChange("overrides.memory_gib", None, 6.0),
        FieldChange("labels.billing-account", "1002", "2002"),
        FieldChange("labels.tier", None, "gold"),
    )
    assert (globex.old_limits, globex.new_limits) == (limits(2, 4, 20), limits(3, 6, 20))
    assert acme.fields == (FieldChange("model_provider", "kimi", "openai"), FieldChange("rotation", 0, 1))
    assert {c.kind for c in diff.tenants} == {"changed"}
    assert diff.cost_delta == 0 and diff.destructive == ()
    assert diff.affected_shards == ("eu",)


def test_a_plan_definition_change_changes_every_tenant_of_the_plan() -> None:
    def pricier(doc: Doc) -> None:
        doc["plans"]["pro"] = {"memory_gib": 6, "monthly_price": "109.50"}

    diff = diff_of(pricier)
    assert [c.id for c in diff.tenants] == ["globex", "hooli"]
    globex = diff.tenant("globex")
    assert globex.fields == (FieldChange("monthly_price", "99.00", "109.50"),)
    assert (globex.old_limits, globex.new_limits) == (limits(2, 4, 20), limits(2, 6, 20))
    assert globex.cost_delta == Decimal("10.50")
    assert diff.cost_delta == Decimal("21.00")
    assert diff.affected_shards == ("eu", "k8s")
    assert [(s.path, s.old, s.new, s.shards) for s in diff.settings] == [
        ("plans.pro.memory_gib", 4.0, 6.0, ("eu", "k8s")),
        ("plans.pro.monthly_price", "99.00", "109.50", ("eu", "k8s")),
    ]


def test_a_target_setting_affects_the_stacks_of_its_tenants_only() -> None:
    def port(doc: Doc) -> None:
        doc["targets"]["host-c"]["edge"] = {"port": 8081}

    diff = diff_of(port)
    assert diff.tenants == ()
    assert [(s.path, s.old, s.new, s.shards) for s in diff.settings] == [
        ("targets.host-c.edge.port", 8080, 8081, ("us",))
    ]
    assert diff.affected_shards == ("us",)


def test_the_proxy_image_affects_every_docker_stack_and_defaults_affect_none() -> None:
    def proxy(doc: Doc) -> None:
        doc["images"] = {"proxy": "docker.io/library/nginx:1.27.6"}
        doc["defaults"]["channel"] = "stable"  # the same value, now explicit: no change
        doc["defaults"]["shard"] = "spare"

    diff = diff_of(proxy)
    assert [(s.path, s.shards) for s in diff.settings] == [("defaults.shard", ()), ("images.proxy", ("eu", "us"))]
    assert diff.affected_shards == ("eu", "us")


def test_the_domain_changes_every_host_name() -> None:
    diff = diff_of(lambda doc: doc.update(domain="example.net"))
    assert len(diff.tenants) == len(BASE["tenants"])
    assert diff.tenant("acme").fields == (FieldChange("host", "acme.tenants.example.com", "acme.example.net"),)
    assert diff.affected_shards == ("eu", "k8s", "us")


# --- destructive changes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "old", "new"),
    [
        (set_("globex", plan="basic"), 20, 5),  # a smaller plan
        (set_("initech", overrides={"storage_gib": 50}), 100, 50),  # an override below the plan
        (set_("hooli", state="offboarded", overrides={"storage_gib": 10}), 20, 10),  # whatever the state
    ],
)
def test_storage_shrink_is_destructive(edit: Edit, old: int, new: int) -> None:
    diff = diff_of(edit)
    (change,) = diff.tenants
    assert change.old_limits is not None and change.new_limits is not None
    assert (change.old_limits.storage_gib, change.new_limits.storage_gib) == (old, new)
    (finding,) = diff.destructive
    assert (finding.tenant, finding.reason) == (change.id, "storage-shrunk")
    assert finding.message.startswith(f"tenant {change.id!r}: storage shrinks from {old} GiB to {new} GiB;")
    assert MIGRATION_DOC in finding.message


def test_storage_growth_is_safe() -> None:
    assert diff_of(set_("globex", overrides={"storage_gib": 40})).destructive == ()


def test_a_target_move_within_a_shard_is_destructive() -> None:
    diff = diff_of(set_("acme", target="host-b"))
    (change,) = diff.tenants
    assert change.fields == (FieldChange("target", "host-a", "host-b"),)
    (finding,) = diff.destructive
    assert (finding.tenant, finding.reason) == ("acme", "target-moved")
    assert finding.message.startswith("tenant 'acme' moves from target 'host-a' to 'host-b': ")
    assert MIGRATION_DOC in finding.message
    assert diff.affected_shards == ("eu",)


def test_a_shard_move_is_destructive_and_affects_both_shards() -> None:
    diff = diff_of(set_("hooli", shard="k8s-2"))
    (finding,) = diff.destructive
    assert (finding.tenant, finding.reason) == ("hooli", "shard-moved")
    assert finding.message.startswith("tenant 'hooli' moves from shard 'k8s' to 'k8s-2': ")
    assert diff.tenant("hooli").shards == ("k8s", "k8s-2")
    assert diff.affected_shards == ("k8s", "k8s-2")


def test_moving_target_and_shard_gives_two_findings() -> None:
    diff = diff_of(set_("stark", target="host-a", shard="eu"))
    assert [(f.tenant, f.reason) for f in diff.destructive] == [("stark", "target-moved"), ("stark", "shard-moved")]
    assert diff.affected_shards == ("eu", "us")


# --- costs --------------------------------------------------------------------------------------


def test_cost_deltas_are_exact_decimals() -> None:
    starters = [{"id": f"small-{i}", "plan": "starter", "target": "host-c", "shard": "us"} for i in range(10)]
    diff = diff_of(*(add(s) for s in starters), set_("stark", state="suspended"))
    assert diff.cost_delta == Decimal("89.91")  # 10 x 9.99 - 9.99; as floats: 89.91000000000001
    assert diff.head_cost == Decimal("835.89")
    assert sum((c.cost_delta for c in diff.tenants), Decimal(0)) == diff.cost_delta
    assert all(isinstance(c.cost_delta, Decimal) for c in diff.tenants)
    doc = json.loads(render_json(diff))
    assert doc["cost"] == {"base_monthly": "745.98", "head_monthly": "835.89", "delta": "89.91", "rule": COST_RULE}


# --- renderers ----------------------------------------------------------------------------------

MIXED: tuple[Edit, ...] = (
    add({"id": "newco", "plan": "pro", "target": "host-c", "shard": "us"}),
    remove("acme"),
    set_("globex", plan="enterprise"),
    set_("wayne", state="suspended"),
)


def test_markdown_puts_destructive_warnings_first_then_summary_table_cost_and_stacks() -> None:
    text = render_markdown(diff_of(*MIXED))
    lines = text.splitlines()
    assert lines[0] == "### Tenant diff: `base.yaml` → `head.yaml`"
    assert lines[2] == "> [!CAUTION]"
    assert lines[3].startswith("> **Destructive: 1 finding.**")
    assert lines[5].startswith("> - **acme** (removed-live): tenant 'acme' is removed while active: ")
    assert lines[7] == (
        "**4 tenants change** (1 added, 1 removed, 1 suspended, 1 changed); "
        "cost +460.01 / month[^cost]; stacks: `eu`, `us`"
    )
    table = lines[9:16]
    assert table == [
        "| tenant | change | details | limits: CPUs / memory GiB / storage GiB | cost / month |",
        "|---|---|---|---|--:|",
        "| acme | removed | line removed (active) | 1 / 2 / 5 → — | 29.00 → 0.00 (-29.00) |",
        "| globex | changed | plan pro → enterprise | 2 / 4 / 20 → 4 / 8 / 100 | 99.00 → 499.00 (+400.00) |",
        "| wayne | suspended | active → suspended | 0.5 / 1 / 2 | 9.99 → 0.00 (-9.99) |",
        "| newco | added | new on us (active) | — → 2 / 4 / 20 | 0.00 → 99.00 (+99.00) |",
        "",
    ]
    assert lines[16] == "**Monthly cost delta: +460.01** (745.98 → 1,205.99)"
    assert lines[18] == "**Affected stacks:** `eu`, `us`"
    assert lines[20] == f"[^cost]: {COST_RULE}"
    assert "suspended and offboarded tenants cost 0" in COST_RULE


def test_markdown_without_changes_and_with_a_row_limit() -> None:
    assert "**No tenant changes**; cost +0.00 / month[^cost]; stacks: none" in render_markdown(diff_of())
    text = render_markdown(diff_of(*MIXED), max_rows=2)
    assert "| … | | 2 more tenants: see `--format json` | | |" in text
    assert "| wayne |" not in text and "| globex |" in text


def test_markdown_lists_setting_changes() -> None:
    text = render_markdown(diff_of(lambda doc: doc["targets"]["host-c"].update(egress="none")))
    assert "| `targets.host-c.egress.mode` | models | none | us |" in text


def test_json_has_stable_keys_and_every_detail() -> None:
    doc = json.loads(render_json(diff_of(*MIXED)))
    assert list(doc) == ["base", "head", "destructive", "affected_shards", "summary", "cost", "tenants", "settings"]
    assert (doc["base"], doc["head"]) == ("base.yaml", "head.yaml")
    assert doc["affected_shards"] == ["eu", "us"]
    assert doc["summary"] == {
        "tenants_changed": 4,
        "added": 1,
        "removed": 1,
        "suspended": 1,
        "resumed": 0,
        "offboarded": 0,
        "changed": 1,
        "settings_changed": 0,
    }
    (finding,) = doc["destructive"]
    assert list(finding) == ["tenant", "target", "reason", "message"]
    assert (finding["tenant"], finding["reason"]) == ("acme", "removed-live")
    assert [c["id"] for c in doc["tenants"]] == ["acme", "globex", "newco", "wayne"]
    globex = doc["tenants"][1]
    assert globex == {
        "id": "globex",
        "kind": "changed",
        "old_state": "active",
        "new_state": "active",
        "old_shard": "eu",
        "new_shard": "eu",
        "changes": [
            {"field": "plan", "old": "pro", "new": "enterprise"},
            {"field": "pids_limit", "old": 1024, "new": 2048},
            {"field": "rate_limit_rps", "old": 30, "new": 100},
            {"field": "burst", "old": 60, "new": 200},
            {"field": "monthly_price", "old": "99.00", "new": "499.00"},
        ],
        "old_limits": {"cpus": 2.0, "memory_gib": 4.0, "storage_gib": 20},
        "new_limits": {"cpus": 4.0, "memory_gib": 8.0, "storage_gib": 100},
        "old_cost": "99.00",
        "new_cost": "499.00",
        "cost_delta": "400.00",
    }
    added = doc["tenants"][2]
    assert (added["kind"], added["old_limits"], added["old_state"], added["changes"]) == ("added", None, None, [])
    assert doc["settings"] == []
    empty = json.loads(render_json(diff_of()))
    assert list(empty) == list(doc) and list(empty["summary"]) == list(doc["summary"])


# --- loading pairs ------------------------------------------------------------------------------


def test_load_pair_in_two_processes_gives_the_same_fleets() -> None:
    base_doc = generate_fleet(600, seed=3)
    head_doc, _ = mutate_fleet(base_doc, seed=4, add=5, suspend=5)
    base, head = FleetText("b", fleet_yaml(base_doc)), FleetText("h", fleet_yaml(head_doc))
    assert load_pair(base, head, parallel=True) == load_pair(base, head, parallel=False)


def test_load_pair_validates_identical_texts_once() -> None:
    text = FleetText("a", fleet_yaml(BASE))
    old, new = load_pair(text, FleetText("b", text.text))
    assert old is new


@pytest.mark.parametrize("parallel", [True, False])
def test_load_pair_reports_the_problems_of_both_fleets(parallel: bool) -> None:
    bad = fleet_yaml(head(set_("acme", plan="platinum")))
    worse = bad.replace("version: 1", "version: 2")
    with pytest.raises(FleetPairError) as caught:
        load_pair(FleetText("old.yaml", bad), FleetText("new.yaml", worse), parallel=parallel)
    assert [e.source for e in caught.value.errors] == ["old.yaml", "new.yaml"]
    text = caught.value.render()
    assert "old.yaml: 1 problem found\n" in text and "tenants[0].plan: unknown plan 'platinum'" in text
    assert "new.yaml: 2 problems found\n" in text and "version: unsupported version 2" in text


def test_read_fleet_text_refuses_a_missing_ref_in_one_line(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    with pytest.raises(SourceError) as caught:
        read_fleet_text("no-such-ref", cwd=tmp_path)
    assert str(caught.value).startswith(
        "'no-such-ref' is neither an existing file nor a git ref holding tenants.yaml ("
    )
    assert "\n" not in str(caught.value)


# --- a large generated fleet --------------------------------------------------------------------


def test_a_10000_tenant_diff_is_correct() -> None:
    base_doc = generate_fleet(10_000, seed=0)
    head_doc, m = mutate_fleet(
        base_doc,
        seed=1,
        add=40,
        remove=15,
        remove_live=3,
        suspend=30,
        resume=25,
        offboard=20,
        upgrade=35,
        recanary=10,
        relabel=20,
        shrink=4,
        move=2,
    )
    old, new = load_pair(FleetText("base", fleet_yaml(base_doc)), FleetText("head", fleet_yaml(head_doc)))
    assert len(old.tenants) == 10_000 and len(new.tenants) == 10_000 + 40 - 15 - 3
    diff = diff_fleets(old, new)

    def ids(kind: str) -> tuple[str, ...]:
        return tuple(c.id for c in diff.tenants if c.kind == kind)

    assert ids("added") == m.added
    assert ids("removed") == tuple(sorted(m.removed + m.removed_live))
    assert ids("suspended") == m.suspended
    assert ids("resumed") == m.resumed
    assert ids("offboarded") == m.offboarded
    assert ids("changed") == tuple(sorted(m.upgraded + m.recanaried + m.relabeled + m.shrunk + m.moved))
    assert diff.count() == {
        "added": 40,
        "removed": 18,
        "suspended": 30,
        "resumed": 25,
        "offboarded": 20,
        "changed": 35 + 10 + 20 + 4 + 2,
    }
    reasons = sorted((f.reason, f.tenant) for f in diff.destructive)
    assert reasons == sorted(
        [("removed-live", i) for i in m.removed_live]
        + [("data-forgotten", i) for i in m.removed]
        + [("storage-shrunk", i) for i in m.shrunk]
        + [(r, i) for i in m.moved for r in ("target-moved", "shard-moved")]
    )
    assert diff.settings == ()
    touched = {c.id for c in diff.tenants}
    expected_shards = {x["shard"] for x in base_doc["tenants"] if x["id"] in touched}
    expected_shards |= {x["shard"] for x in head_doc["tenants"] if x["id"] in touched}
    assert set(diff.affected_shards) == expected_shards
    assert diff.head_cost - diff.base_cost == diff.cost_delta == sum((c.cost_delta for c in diff.tenants), Decimal(0))


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def app() -> typer.Typer:
    return app_with(register)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(path: Path, doc: Doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(fleet_yaml(doc))
    return path


def test_cli_safe_change_exits_0(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    base, new = write(tmp_path / "a.yaml", BASE), write(tmp_path / "b.yaml", head(set_("acme", plan="pro")))
    result = runner.invoke(app, ["diff", "--base", str(base), "--head", str(new), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["destructive"] == [] and doc["summary"]["changed"] == 1 and doc["cost"]["delta"] == "70.00"
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (remove("acme"), "removed-live"),
        (set_("globex", plan="basic"), "storage-shrunk"),
        (set_("acme", target="host-b"), "target-moved"),
        (set_("hooli", shard="k8s-2"), "shard-moved"),
    ],
)
def test_cli_destructive_change_exits_2(
    app: typer.Typer, runner: CliRunner, tmp_path: Path, edit: Edit, reason: str
) -> None:
    base, new = write(tmp_path / "a.yaml", BASE), write(tmp_path / "b.yaml", head(edit))
    result = runner.invoke(app, ["diff", "--base", str(base), "--head", str(new)])
    assert result.exit_code == 2, result.output
    assert f"({reason}): tenant " in result.stdout
    assert result.stdout.startswith(f"### Tenant diff: `{base}` → `{new}`\n\n> [!CAUTION]\n")


def test_cli_invalid_base_exits_1_with_every_problem(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    bad = head(set_("acme", plan="platinum"), set_("globex", overrides={"memory_gib": 60}))
    base, new = write(tmp_path / "a.yaml", bad), write(tmp_path / "b.yaml", BASE)
    result = runner.invoke(app, ["diff", "--base", str(base), "--head", str(new)])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"{base}: 2 problems found"
    assert lines[1].startswith(f"  {base}:") and "tenants[0].plan: unknown plan 'platinum'; known: " in lines[1]
    assert "tenants[1].overrides.memory_gib: 60.0 is above plan 'pro' max 8.0; choose a larger plan" in lines[2]


def test_cli_unknown_ref_exits_1_in_one_line(
    app: typer.Typer, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["diff", "--base", "v9.9"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        "tenantctl diff: 'v9.9' is neither an existing file nor a git ref holding tenants.yaml ("
    )
    assert result.stderr.count("\n") == 1


def git(repo: Path, *args: str) -> str:
    env = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    done = subprocess.run(["git", *env, *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def make_repo(tmp_path: Path, file: str = "tenants.yaml") -> Path:
    """A repository with two commits of the fleet file: BASE, then acme on pro and a new tenant."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write(repo / file, BASE)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    write(
        repo / file,
        head(set_("acme", plan="pro"), add({"id": "newco", "plan": "basic", "target": "host-c", "shard": "us"})),
    )
    git(repo, "commit", "-q", "-am", "head")
    return repo


def test_cli_git_refs(app: typer.Typer, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["diff", "--base", "HEAD~1", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["base"], doc["head"]) == ("HEAD~1:tenants.yaml", "tenants.yaml")
    assert [(c["id"], c["kind"]) for c in doc["tenants"]] == [("acme", "changed"), ("newco", "added")]
    assert doc["cost"]["delta"] == "99.00"
    assert doc["affected_shards"] == ["eu", "us"]

    # Both sides from refs; the working tree (now a destructive edit) is not read.
    write(repo / "tenants.yaml", head(remove("acme")))
    result = runner.invoke(app, ["diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["head"] == "HEAD:tenants.yaml"
    # The working tree against HEAD, from a subdirectory: paths are from the repository root.
    (repo / "sub").mkdir()
    monkeypatch.chdir(repo / "sub")
    result = runner.invoke(app, ["diff", "--base", "HEAD"])
    assert result.exit_code == 2, result.output
    assert "**acme** (removed-live)" in result.stdout


def test_cli_file_option_names_the_fleet_in_the_ref(
    app: typer.Typer, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path, "deploy/fleet.yaml")
    monkeypatch.chdir(repo)
    result = runner.invoke(app, ["diff", "--base", "HEAD~1", "--file", "deploy/fleet.yaml", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["base"] == "HEAD~1:deploy/fleet.yaml"
    result = runner.invoke(app, ["diff", "--base", "HEAD~1"])
    assert result.exit_code == 1
    assert "git ref holding tenants.yaml (" in result.stderr


def test_cli_markdown_row_limit(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    base = write(tmp_path / "a.yaml", BASE)
    new = write(tmp_path / "b.yaml", head(*MIXED))
    result = runner.invoke(app, ["diff", "--base", str(base), "--head", str(new), "--max-rows", "1"])
    assert result.exit_code == 2
    assert "| … | | 3 more tenants: see `--format json` | | |" in result.stdout
    result = runner.invoke(app, ["diff", "--base", str(base), "--head", str(new), "--max-rows", "0"])
    assert "| newco | added |" in result.stdout


def test_generated_fleets_are_valid_and_deterministic() -> None:
    text = generate_fleet_yaml(450, seed=7)
    assert text == generate_fleet_yaml(450, seed=7) != generate_fleet_yaml(450, seed=8)
    fleet = parse_fleet(text)
    assert len(fleet.tenants) == 450
    assert {t.state for t in fleet.tenants} == {"active", "suspended", "offboarded"}
    assert {t.plan for t in fleet.tenants} == {"basic", "pro", "enterprise", "starter"}
    assert sorted(fleet.targets) == ["host-01", "host-02", "host-03"]
    assert any(t.labels for t in fleet.tenants) and any(t.overrides.storage_gib for t in fleet.tenants)
