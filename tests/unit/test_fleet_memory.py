"""Fleet memory: an offboarded tenant's line keeps its id taken, `retained_on` remembers earlier copies,
and the edits and diff findings that guard both (move, purge, release; data-forgotten, host-changed,
storage-moved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tenantctl.edit import register
from tenants import tenant_ids
from tenants.diff import MIGRATION_DOC, REMOVAL_DOC, FieldChange, FleetDiff, diff_fleets
from tenants.diff_report import render_json, render_markdown
from tenants.edit import (
    DuplicateTenant,
    Edit,
    EditError,
    EditResult,
    RetiredTenant,
    UnknownTenant,
    add_tenant,
    apply_edits,
    move_tenant,
    purge_tenant,
    release_copy,
    set_state,
)
from tenants.errors import FleetError, format_path
from tenants.load import load_fleet, parse_fleet
from tenants.model import Fleet
from tenants.tenant_ids import generate_id
from tests.unit.cli_apps import app_with
from tests.unit.test_edit import diff as changed_lines
from tests.unit.test_edit import swap

FLEET = """\
version: 1
domain: tenants.example.com
defaults: {target: host-a, model_provider: kimi}

targets:
  host-a:
    type: docker
    host: ssh://ops@host-a.internal
    capacity: {cpus: 16, memory_gib: 64, networks: 30, storage_gib: 1000}
  host-b:
    type: docker
    host: ssh://ops@host-b.internal
    capacity: {cpus: 16, memory_gib: 64, networks: 30, storage_gib: 1000}
  host-c:
    type: docker
    host: ssh://ops@host-c.internal
    capacity: {cpus: 16, memory_gib: 64, networks: 30, storage_gib: 1000}
  cluster:
    type: kubernetes
    context: kind-test
    capacity: {cpus: 64, memory_gib: 256, storage_gib: 4000}

tenants:
  # The first customer.
  - id: acme
    plan: basic

  - id: globex
    plan: pro
    state: offboarded   # left in May

  # Customers on the cluster.
  - id: hooli
    target: cluster
    shard: k8s

  - id: initech
    plan: basic
    state: suspended
# the end
"""

NEW = {"plan": "basic", "model_provider": "kimi"}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "tenants.yaml"
    target.write_text(FLEET, encoding="utf-8")
    return target


def line_of(text: str, key: str) -> int:
    """The 1-based line of the first ``key:`` in ``text``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith(f"{key}:"))


def problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(FleetError) as caught:
        parse_fleet(text, "t.yaml")
    return [(p.line, format_path(p.path), p.message) for p in caught.value.problems]


# --- retained_on: the model and its validation ------------------------------------------------------


def test_retained_on_names_other_docker_targets() -> None:
    fleet = parse_fleet(
        swap(
            FLEET,
            "  - id: acme\n    plan: basic\n",
            "  - id: acme\n    plan: basic\n    retained_on: [host-b, host-c]\n",
        )
    )
    assert fleet.tenant("acme").retained_on == ("host-b", "host-c")
    assert fleet.tenant("globex").retained_on == ()


@pytest.mark.parametrize(
    ("listed", "index", "message"),
    [
        ("[nowhere]", 0, "unknown target 'nowhere'; known: cluster, host-a, host-b, host-c"),
        ("[cluster]", 0, "target 'cluster' is a Kubernetes target; retained_on lists Docker targets only"),
        ("[host-b, host-a]", 1, "target 'host-a' is tenant 'acme''s own target; retained_on lists the other"),
        ("[host-b, host-c, host-b]", 2, "target 'host-b' is listed twice (first at retained_on[0]); remove one"),
    ],
)
def test_retained_on_refuses_what_holds_no_earlier_copy(listed: str, index: int, message: str) -> None:
    text = swap(FLEET, "  - id: acme\n    plan: basic\n", f"  - id: acme\n    plan: basic\n    retained_on: {listed}\n")
    ((line, where, found),) = problems(text)
    assert (line, where) == (line_of(text, "retained_on"), f"tenants[0].retained_on[{index}]")
    assert found.startswith(message), found


def test_retained_on_must_be_a_list_of_names() -> None:
    text = swap(FLEET, "  - id: acme\n    plan: basic\n", "  - id: acme\n    plan: basic\n    retained_on: host-b\n")
    ((line, where, _),) = problems(text)
    assert (line, where) == (line_of(text, "retained_on"), "tenants[0].retained_on")


def test_retained_copies_take_storage_on_their_target() -> None:
    # A copy of globex (pro: 20 GiB) kept on host-b fits in 1000 GiB, not in 10.
    text = swap(
        FLEET, "    plan: pro\n    state: offboarded", "    plan: pro\n    state: offboarded\n    retained_on: [host-b]"
    )
    parse_fleet(text)
    crowded = text.replace(
        "    capacity: {cpus: 16, memory_gib: 64, networks: 30, storage_gib: 1000}\n  host-c",
        "    capacity: {cpus: 16, memory_gib: 64, networks: 30, storage_gib: 10}\n  host-c",
    )
    (found,) = problems(crowded)
    assert found[1] == "targets.host-b.capacity.storage_gib"


# --- refusing an offboarded tenant's id ----------------------------------------------------------


def test_adding_an_offboarded_id_says_its_data_still_exists(path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(RetiredTenant) as caught:
        add_tenant(path, {"id": "globex", **NEW})
    message = str(caught.value)
    assert message.startswith(f"tenant 'globex' in {path} was offboarded and its data still exists on target 'host-a'")
    assert "`tenantctl resume globex`" in message and "`tenantctl restore globex`" in message
    assert "`tenantctl purge globex --yes`" in message and "new customer" in message
    assert "\n" not in message
    assert isinstance(caught.value, DuplicateTenant)  # callers that catch a taken id still do
    assert path.read_bytes() == before


def test_a_live_id_stays_a_plain_duplicate(path: Path) -> None:
    with pytest.raises(DuplicateTenant) as caught:
        add_tenant(path, {"id": "initech", **NEW})
    assert type(caught.value) is DuplicateTenant
    assert str(caught.value) == f"tenant 'initech' already exists in {path}"


def test_a_batch_refuses_the_offboarded_id_alone(path: Path) -> None:
    outcomes = apply_edits(path, [Edit.add({"id": "newco", **NEW}), Edit.add({"id": "globex", **NEW})])
    assert isinstance(outcomes[0], EditResult) and outcomes[0].changed
    assert isinstance(outcomes[1], RetiredTenant)
    fleet = load_fleet(path)
    assert fleet.tenant("globex").state == "offboarded" and fleet.tenant("newco").plan == "basic"


def test_an_id_offboarded_earlier_in_the_batch_is_refused_too(path: Path) -> None:
    outcomes = apply_edits(path, [Edit.set_state("initech", "offboarded"), Edit.add({"id": "initech", **NEW})])
    assert isinstance(outcomes[0], EditResult)
    assert isinstance(outcomes[1], RetiredTenant)


def test_generated_ids_skip_offboarded_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = parse_fleet(FLEET.replace("id: globex", "id: t-retired0"))
    assert fleet.tenant("t-retired0").state == "offboarded"
    suffixes = iter(["retired0", "retired0", "fresh000"])
    monkeypatch.setattr(tenant_ids, "_random_suffix", lambda: next(suffixes))
    assert generate_id(fleet, "t") == "t-fresh000"


@pytest.fixture
def cli() -> typer.Typer:
    return app_with(register)


def test_tenantctl_add_refuses_an_offboarded_id(cli: typer.Typer, path: Path) -> None:
    before = path.read_bytes()
    for extra in ([], ["--shard", "default"]):  # with or without placing it
        result = CliRunner().invoke(
            cli, ["add", "globex", "--plan", "basic", "--provider", "kimi", "-f", str(path), *extra]
        )
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert "was offboarded and its data still exists on target 'host-a'" in result.stderr
        assert "`tenantctl purge globex --yes`" in result.stderr and "`tenantctl resume globex`" in result.stderr
    assert path.read_bytes() == before


def test_a_purged_id_is_free_again(path: Path) -> None:
    purge_tenant(path, "globex")
    result = add_tenant(path, {"id": "globex", "plan": "basic", "model_provider": "kimi"})
    assert (result.tenant.id, result.tenant.state, result.tenant.retained_on) == ("globex", "active", ())


# --- move_tenant ---------------------------------------------------------------------------------


def test_move_sets_the_target_and_remembers_the_old_one(path: Path) -> None:
    before = path.read_text()
    result = move_tenant(path, "acme", "host-b")
    assert result.changed
    assert (result.tenant.target, result.tenant.retained_on, result.tenant.shard) == ("host-b", ("host-a",), "default")
    assert changed_lines(before, path.read_text()) == ["+    target: host-b", "+    retained_on: [host-a]"]


def test_a_second_move_appends_and_keeps_the_entrys_style(path: Path) -> None:
    move_tenant(path, "acme", "host-b")
    before = path.read_text()
    result = move_tenant(path, "acme", "host-c")
    assert result.tenant.retained_on == ("host-a", "host-b")
    assert changed_lines(before, path.read_text()) == [
        "-    target: host-b",
        "-    retained_on: [host-a]",
        "+    target: host-c",
        "+    retained_on: [host-a, host-b]",
    ]


def test_move_keeps_comments_quotes_and_a_block_list(path: Path) -> None:
    text = swap(
        FLEET,
        "  - id: initech\n    plan: basic\n    state: suspended\n",
        '  - id: initech\n    plan: basic\n    target: "host-b"   # since June\n    state: suspended\n'
        "    retained_on:\n      - host-c\n",
    )
    path.write_text(text)
    move_tenant(path, "initech", "host-a")
    after = path.read_text()
    assert changed_lines(text, after) == [
        '-    target: "host-b"   # since June',
        '+    target: "host-a"   # since June',
        "+      - host-b",
    ]
    assert after.endswith("      - host-b\n# the end\n")


def test_move_with_a_shard_writes_it(path: Path) -> None:
    before = path.read_text()  # host-c has no tenants: it may serve another shard
    result = move_tenant(path, "acme", "host-c", shard="eu")
    assert (result.tenant.target, result.tenant.shard) == ("host-c", "eu")
    assert changed_lines(before, path.read_text()) == [
        "+    target: host-c",
        "+    retained_on: [host-a]",
        "+    shard: eu",
    ]


@pytest.mark.parametrize(
    ("tenant", "to", "message"),
    [
        (
            "hooli",
            "host-a",
            "tenant 'hooli' is on Kubernetes target 'cluster': tenants move between Docker targets only",
        ),
        ("acme", "cluster", "tenant 'acme' would move to Kubernetes target 'cluster': tenants move between Docker"),
        ("acme", "host-a", "tenant 'acme' is on target 'host-a' already"),
        ("acme", "nowhere", "no target 'nowhere' in "),
    ],
)
def test_move_refuses(path: Path, tenant: str, to: str, message: str) -> None:
    before = path.read_bytes()
    with pytest.raises(EditError) as caught:
        move_tenant(path, tenant, to)
    assert str(caught.value).startswith(message), str(caught.value)
    assert path.read_bytes() == before


def test_move_refuses_a_target_that_holds_an_earlier_copy(path: Path) -> None:
    move_tenant(path, "acme", "host-b")
    before = path.read_bytes()
    with pytest.raises(EditError) as caught:
        move_tenant(path, "acme", "host-a")
    message = str(caught.value)
    assert message.startswith("target 'host-a' still holds an earlier copy of tenant 'acme''s data (retained_on)")
    assert "`tenantctl purge acme --from-target host-a --yes`" in message
    assert path.read_bytes() == before


def test_move_of_an_unknown_tenant(path: Path) -> None:
    with pytest.raises(UnknownTenant):
        move_tenant(path, "nobody", "host-b")


# --- release_copy --------------------------------------------------------------------------------


def test_release_removes_one_copy_then_the_key(path: Path) -> None:
    move_tenant(path, "acme", "host-b")
    move_tenant(path, "acme", "host-c")
    before = path.read_text()
    assert release_copy(path, "acme", "host-a").tenant.retained_on == ("host-b",)
    assert changed_lines(before, path.read_text()) == [
        "-    retained_on: [host-a, host-b]",
        "+    retained_on: [host-b]",
    ]
    result = release_copy(path, "acme", "host-b")
    assert result.tenant.retained_on == () and result.changed
    assert "retained_on" not in path.read_text()


def test_release_of_a_block_list_keeps_what_follows(path: Path) -> None:
    text = swap(
        FLEET,
        "    plan: basic\n    state: suspended\n",
        "    plan: basic\n    state: suspended\n    retained_on:\n      - host-b\n      - host-c\n",
    )
    path.write_text(text)
    release_copy(path, "initech", "host-c")
    assert path.read_text() == swap(text, "      - host-c\n", "")


def test_release_refuses_a_target_not_listed(path: Path) -> None:
    move_tenant(path, "acme", "host-b")
    before = path.read_bytes()
    with pytest.raises(EditError) as caught:
        release_copy(path, "acme", "host-c")
    assert str(caught.value) == "tenant 'acme' keeps no earlier copy on target 'host-c' (retained_on: host-a)"
    with pytest.raises(EditError) as caught:
        release_copy(path, "initech", "host-b")
    assert str(caught.value) == "tenant 'initech' keeps no earlier copy on target 'host-b' (retained_on: none)"
    assert path.read_bytes() == before


# --- purge_tenant --------------------------------------------------------------------------------


def test_purge_removes_the_line_and_keeps_the_comments_around_it(path: Path) -> None:
    result = purge_tenant(path, "globex")
    assert result.changed and (result.tenant.id, result.tenant.state, result.tenant.target) == (
        "globex",
        "offboarded",
        "host-a",
    )
    assert [t.id for t in result.fleet.tenants] == ["acme", "hooli", "initech"]
    assert path.read_text() == swap(
        FLEET, "  - id: globex\n    plan: pro\n    state: offboarded   # left in May\n\n", ""
    )


def test_purge_of_the_last_entry_keeps_what_ends_the_file(path: Path) -> None:
    set_state(path, "initech", "offboarded")
    text = path.read_text()
    purge_tenant(path, "initech")
    assert path.read_text() == swap(text, "\n  - id: initech\n    plan: basic\n    state: offboarded\n", "")
    assert path.read_text().endswith("    shard: k8s\n# the end\n")


def test_purge_of_the_first_entry_keeps_the_comments_of_the_next(path: Path) -> None:
    text = swap(FLEET, "  - id: acme\n    plan: basic\n", "  - id: acme\n    plan: basic\n    state: offboarded\n")
    text = swap(text, "  - id: globex\n", "  # Came back in June.\n  - id: globex\n")
    path.write_text(text)
    purge_tenant(path, "acme")
    after = path.read_text()
    assert "  # The first customer.\n  # Came back in June.\n  - id: globex\n" in after
    assert "acme" not in after
    load_fleet(path)


def test_purge_of_the_only_entry_leaves_an_empty_list(tmp_path: Path) -> None:
    text = FLEET.split("tenants:\n", maxsplit=1)[0] + "tenants:\n  - id: gone\n    state: offboarded\n# the end\n"
    path = tmp_path / "tenants.yaml"
    path.write_text(text)
    result = purge_tenant(path, "gone")
    assert result.fleet.tenants == ()
    assert path.read_text().endswith("tenants: []\n# the end\n")


def test_purge_of_flow_entries(tmp_path: Path) -> None:
    text = FLEET.split("tenants:\n", maxsplit=1)[0] + (
        "tenants:\n  - {id: one, state: offboarded}   # gone\n  - {id: two}\n  - {id: three, state: offboarded}\n"
    )
    path = tmp_path / "tenants.yaml"
    path.write_text(text)
    purge_tenant(path, "three")
    purge_tenant(path, "one")
    assert path.read_text().endswith("tenants:\n  - {id: two}\n")


def test_purge_returns_the_tenant_with_its_retained_copies(path: Path) -> None:
    move_tenant(path, "globex", "host-b")
    result = purge_tenant(path, "globex")
    assert (result.tenant.target, result.tenant.retained_on) == ("host-b", ("host-a",))


@pytest.mark.parametrize(("tenant", "state"), [("acme", "active"), ("initech", "suspended")])
def test_purge_refuses_a_live_tenant(path: Path, tenant: str, state: str) -> None:
    before = path.read_bytes()
    with pytest.raises(EditError) as caught:
        purge_tenant(path, tenant)
    message = str(caught.value)
    assert message.startswith(f"tenant {tenant!r} is {state}; only an offboarded tenant is purged")
    assert f"`tenantctl offboard {tenant}`" in message
    assert path.read_bytes() == before


def test_purge_of_an_unknown_tenant(path: Path) -> None:
    with pytest.raises(UnknownTenant):
        purge_tenant(path, "nobody")


def test_a_batch_with_a_purge_blames_the_right_entries(path: Path) -> None:
    """A purge shifts the entries after it: a later invalid edit is still refused alone."""
    outcomes = apply_edits(
        path,
        [
            Edit.set_state("initech", "offboarded"),
            Edit.purge("globex"),
            Edit.add({"id": "newco", **NEW}),
            Edit.add({"id": "badco", "plan": "platinum", "model_provider": "kimi"}),
            Edit.purge("initech"),
        ],
    )
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["EditResult", "EditResult", "EditResult", "FleetError", "EditResult"]
    purged = outcomes[4]
    assert isinstance(purged, EditResult) and purged.tenant.state == "offboarded"
    assert [t.id for t in load_fleet(path).tenants] == ["acme", "hooli", "newco"]


# --- diff findings -------------------------------------------------------------------------------


def fleets(head: str, base: str = FLEET) -> tuple[Fleet, Fleet]:
    return parse_fleet(base, "base.yaml"), parse_fleet(head, "head.yaml")


def diff_of(head: str, base: str = FLEET) -> FleetDiff:
    old, new = fleets(head, base)
    return diff_fleets(old, new, base_source="base.yaml", head_source="head.yaml")


def test_removing_an_offboarded_line_forgets_its_data() -> None:
    moved = swap(FLEET, "    state: offboarded   # left in May\n", "    state: offboarded\n    retained_on: [host-c]\n")
    diff = diff_of(
        swap(moved, "  - id: globex\n    plan: pro\n    state: offboarded\n    retained_on: [host-c]\n\n", ""), moved
    )
    (finding,) = diff.destructive
    assert (finding.tenant, finding.target, finding.reason) == ("globex", None, "data-forgotten")
    assert finding.message.startswith(
        "the fleet would forget id 'globex' while its data remains on target 'host-a' (and earlier copies on "
        "'host-c'), and could give the id to a new customer; only `tenantctl purge globex` releases an id"
    )
    assert REMOVAL_DOC in finding.message


def test_removing_a_live_line_stays_removed_live() -> None:
    diff = diff_of(swap(FLEET, "  - id: acme\n    plan: basic\n\n", ""))
    assert [(f.tenant, f.reason) for f in diff.destructive] == [("acme", "removed-live")]
    assert "`tenantctl purge acme`" in diff.destructive[0].message


def test_retained_on_is_a_field_of_the_diff_and_dropping_a_copy_forgets_it() -> None:
    base = swap(
        FLEET,
        "  - id: acme\n    plan: basic\n",
        "  - id: acme\n    plan: basic\n    target: host-b\n    retained_on: [host-a, host-c]\n",
    )
    head = swap(base, "retained_on: [host-a, host-c]", "retained_on: [host-a]")
    diff = diff_of(head, base)
    (change,) = diff.tenants
    assert (change.kind, change.fields) == ("changed", (FieldChange("retained_on", ["host-a", "host-c"], ["host-a"]),))
    (finding,) = diff.destructive
    assert (finding.tenant, finding.reason) == ("acme", "data-forgotten")
    assert finding.message.startswith(
        "tenant 'acme': retained_on drops 'host-c', so the fleet would forget the earlier"
    )
    assert "`tenantctl purge acme --from-target T`" in finding.message
    assert "retained_on host-a, host-c → host-a" in render_markdown(diff)


def test_a_move_shows_the_new_copy_and_is_a_target_move() -> None:
    head = swap(
        FLEET,
        "  - id: acme\n    plan: basic\n",
        "  - id: acme\n    plan: basic\n    target: host-b\n    retained_on: [host-a]\n",
    )
    diff = diff_of(head)
    (change,) = diff.tenants
    assert change.field("retained_on") == FieldChange("retained_on", None, ["host-a"])
    assert [f.reason for f in diff.destructive] == ["target-moved"]


def test_a_host_change_names_the_target_both_hosts_and_the_tenants_there() -> None:
    base = swap(FLEET, "    state: suspended\n", "    state: suspended\n    target: host-b\n    shard: default\n")
    base = swap(
        base,
        "  - id: acme\n    plan: basic\n",
        "  - id: acme\n    plan: basic\n    target: host-c\n    retained_on: [host-b]\n",
    )
    head = swap(base, "host: ssh://ops@host-b.internal", "host: ssh://ops@host-b2.internal")
    diff = diff_of(head, base)
    (finding,) = diff.destructive
    assert (finding.tenant, finding.target, finding.reason, finding.subject) == (
        None,
        "host-b",
        "host-changed",
        "target host-b",
    )
    assert finding.message.startswith(
        "target 'host-b' changes host from 'ssh://ops@host-b.internal' to 'ssh://ops@host-b2.internal': the data "
        "of tenants acme, initech stays behind on 'ssh://ops@host-b.internal'"
    )
    assert "`tenantctl move ID --to-target NEW`" in finding.message and MIGRATION_DOC in finding.message
    assert diff.settings[0].path == "targets.host-b.host"


def test_a_host_change_counts_offboarded_tenants_and_names_at_most_twenty() -> None:
    entries = "".join(f"  - id: t-{i:03d}\n    target: host-c\n    state: offboarded\n" for i in range(25))
    base = FLEET.replace("# the end\n", entries)
    head = swap(base, "host: ssh://ops@host-c.internal", "host: ssh://ops@host-c.example")
    (finding,) = diff_of(head, base).destructive
    assert "tenants t-000, t-001," in finding.message and "t-019 and 5 more stays behind" in finding.message


def test_a_host_change_of_a_target_without_data_is_safe() -> None:
    head = swap(FLEET, "host: ssh://ops@host-c.internal", "host: ssh://ops@host-c.example")
    diff = diff_of(head)
    assert diff.destructive == () and [s.path for s in diff.settings] == ["targets.host-c.host"]


@pytest.mark.parametrize(
    ("storage", "moved"),
    [
        ("{mode: volume}", "storage.mode from 'disk' to 'volume'"),
        ("{root: /srv/disks}", "storage.root from '/var/lib/openclaw-tenants/disks' to '/srv/disks'"),
        ("{mode: volume, root: /srv/disks}", "storage.mode from 'disk' to 'volume' and storage.root from"),
    ],
)
def test_moving_a_targets_storage_is_destructive(storage: str, moved: str) -> None:
    head = swap(
        FLEET, "    host: ssh://ops@host-a.internal\n", f"    host: ssh://ops@host-a.internal\n    storage: {storage}\n"
    )
    (finding,) = diff_of(head).destructive
    assert (finding.target, finding.reason) == ("host-a", "storage-moved")
    assert finding.message.startswith(f"target 'host-a' changes {moved}")
    assert "the data of tenants acme, globex, initech stays where it is" in finding.message


def test_other_storage_settings_are_safe() -> None:
    head = swap(
        FLEET,
        "    host: ssh://ops@host-a.internal\n",
        "    host: ssh://ops@host-a.internal\n    storage: {inodes_per_gib: 131072}\n",
    )
    assert diff_of(head).destructive == ()


def test_reports_name_a_targets_finding() -> None:
    diff = diff_of(swap(FLEET, "host: ssh://ops@host-a.internal", "host: ssh://ops@host-z.internal"))
    doc = json.loads(render_json(diff))
    (finding,) = doc["destructive"]
    assert (finding["tenant"], finding["target"], finding["reason"]) == (None, "host-a", "host-changed")
    markdown = render_markdown(diff)
    assert "> - **target host-a** (host-changed): target 'host-a' changes host from " in markdown
