"""The round-trip editor: exact diffs, refusals that leave the file alone, locking, atomic replace, the CLI."""

from __future__ import annotations

import difflib
import multiprocessing
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tenantctl.edit import register
from tenants import file_lock, tenant_ids, yaml_document
from tenants.edit import (
    DuplicateTenant,
    Edit,
    EditError,
    EditOutcome,
    EditResult,
    UnknownTenant,
    add_tenant,
    apply_edits,
    set_state,
)
from tenants.errors import FleetError
from tenants.file_lock import locked
from tenants.load import load_fleet, parse_fleet
from tenants.model import RESERVED_IDS, TENANT_ID, Fleet
from tenants.placement import least_loaded_shard, shard_for_new_tenant
from tenants.secrets_scan import looks_random
from tenants.tenant_ids import generate_id
from tests.unit.cli_apps import app_with

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tenants.yaml"
OLD_MTIME_NS = 1_000_000_000 * 1_000_000_000  # 2001-09-09: any rewrite would move it

# The example fleet's tenants, in order; a new one is tenants[6].
EXAMPLE_IDS = ("acme", "globex", "initech", "umbrella", "hooli", "vandelay")

SMALL = """\
version: 1
domain: localhost
defaults: {target: local, model_provider: kimi}
targets:
  local: {type: docker, capacity: {cpus: 8, memory_gib: 32, networks: 30, storage_gib: 1000}}
"""


def diff(before: str, after: str) -> list[str]:
    """The changed lines only, each with its + or -."""
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def swap(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A copy of the repository's tenants.yaml with an old mtime."""
    target = tmp_path / "tenants.yaml"
    target.write_bytes(EXAMPLE.read_bytes())
    os.utime(target, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return target


def write(tmp_path: Path, text: str) -> Path:
    target = tmp_path / "tenants.yaml"
    target.write_text(text, encoding="utf-8")
    os.utime(target, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    return target


def assert_untouched(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == OLD_MTIME_NS
    assert leftovers(path) == []


def leftovers(path: Path) -> list[str]:
    """Anything in the file's directory besides the file and its lock."""
    return sorted(p.name for p in path.parent.iterdir() if p.name not in (path.name, path.name + ".lock"))


# --- add_tenant --------------------------------------------------------------------------------


def test_add_appends_exactly_the_new_entry_after_a_blank_line(path: Path) -> None:
    before = path.read_text()
    result = add_tenant(
        path,
        {"id": "newco", "plan": "pro", "model_provider": "openai", "labels": {"billing-account": "2002"}},
    )

    after = path.read_text()
    added = '\n  - id: newco\n    plan: pro\n    model_provider: openai\n    labels:\n      billing-account: "2002"\n'
    assert after == before + added
    assert diff(before, after) == [
        "+",
        "+  - id: newco",
        "+    plan: pro",
        "+    model_provider: openai",
        "+    labels:",
        '+      billing-account: "2002"',
    ]
    assert isinstance(result, EditResult)
    assert result.changed is True
    on_disk = load_fleet(path)
    assert result.fleet == on_disk
    assert result.tenant == on_disk.tenant("newco")
    assert [t.id for t in on_disk.tenants] == [*EXAMPLE_IDS, "newco"]
    t = result.tenant
    assert (t.plan, t.model_provider, t.target, t.shard, t.channel, t.state) == (
        "pro",
        "openai",
        "local",
        "default",
        "stable",
        "active",
    )
    assert t.labels == {"billing-account": "2002"}


def test_add_writes_keys_in_the_file_order_and_leaves_none_to_the_defaults(path: Path) -> None:
    before = path.read_text()
    fields = {
        "labels": {"team": "payments", "tier": "1"},
        "overrides": {"memory_gib": 3},
        "channel": "canary",
        "model_provider": "anthropic",
        "shard": "k8s-example",
        "target": "cluster-eu",
        "plan": "basic",
        "rotation": None,
        "id": "k8sco",
    }
    result = add_tenant(path, fields)

    assert path.read_text() == before + (
        "\n  - id: k8sco\n    plan: basic\n    target: cluster-eu\n    shard: k8s-example\n"
        "    model_provider: anthropic\n    channel: canary\n    overrides:\n      memory_gib: 3\n"
        '    labels:\n      team: payments\n      tier: "1"\n'
    )
    assert result.tenant.rotation == 0
    assert result.tenant.overrides.memory_gib == 3
    assert result.tenant.labels == {"team": "payments", "tier": "1"}


def test_add_keeps_what_follows_the_last_entry_at_the_end(tmp_path: Path) -> None:
    before = EXAMPLE.read_text() + "\n# Add new customers above this line.\n"
    path = write(tmp_path, before)
    add_tenant(path, {"id": "newco"})

    assert path.read_text() == EXAMPLE.read_text() + "\n  - id: newco\n" + "\n# Add new customers above this line.\n"


def test_add_when_tenants_is_not_the_last_section(tmp_path: Path) -> None:
    text = (
        "version: 1\ndomain: localhost\ntenants:\n  - id: acme   # first customer\n\n  - id: globex\n"
        "    overrides: {cpus: 2}   # agreed in the contract\n\n# Where they run\n"
        "defaults: {target: local, model_provider: kimi}\n"
        "targets:\n  local: {type: docker, capacity: {cpus: 8, memory_gib: 32, networks: 30, storage_gib: 1000}}\n"
    )
    path = write(tmp_path, text)
    add_tenant(path, {"id": "newco", "plan": "pro"})

    expected = swap(text, "\n\n# Where they run\n", "\n\n  - id: newco\n    plan: pro\n\n# Where they run\n")
    assert path.read_text() == expected
    assert sorted(diff(text, path.read_text())) == ["+", "+    plan: pro", "+  - id: newco"]


def test_add_without_blank_lines_between_entries_adds_none(tmp_path: Path) -> None:
    text = SMALL + "tenants:\n  - id: acme\n    plan: basic\n  - id: globex\n    plan: pro\n"
    path = write(tmp_path, text)
    add_tenant(path, {"id": "newco", "plan": "pro"})

    assert path.read_text() == text + "  - id: newco\n    plan: pro\n"


def test_add_keeps_another_indentation_style(tmp_path: Path) -> None:
    text = SMALL + "tenants:\n- id: acme\n  labels:\n    team: a\n\n- id: globex\n  plan: pro\n"
    path = write(tmp_path, text)
    add_tenant(path, {"id": "newco", "labels": {"team": "b"}})

    assert path.read_text() == text + "\n- id: newco\n  labels:\n    team: b\n"


def test_add_next_to_flow_style_entries_is_flow_style(tmp_path: Path) -> None:
    text = SMALL + "tenants:\n  - {id: acme, plan: basic}\n  - {id: globex, plan: pro}\n"
    path = write(tmp_path, text)
    add_tenant(path, {"id": "newco", "plan": "pro"})

    assert path.read_text() == text + "  - {id: newco, plan: pro}\n"


@pytest.mark.parametrize(
    ("tenants", "expected"),
    [
        ("tenants: []\n# the end\n", "tenants:\n  - id: newco\n# the end\n"),
        ("tenants:\n", "tenants:\n  - id: newco\n"),
        ("", "tenants:\n  - id: newco\n"),
    ],
    ids=["empty-list", "null", "missing"],
)
def test_add_first_tenant(tmp_path: Path, tenants: str, expected: str) -> None:
    path = write(tmp_path, SMALL + tenants)
    result = add_tenant(path, {"id": "newco"})

    assert path.read_text() == SMALL + expected
    assert [t.id for t in result.fleet.tenants] == ["newco"]


def test_add_keeps_crlf_line_endings(tmp_path: Path) -> None:
    text = (SMALL + "tenants:\n  - id: acme\n").replace("\n", "\r\n")
    path = tmp_path / "tenants.yaml"
    path.write_bytes(text.encode())
    add_tenant(path, {"id": "newco"})

    assert path.read_bytes() == (text + "  - id: newco\r\n").encode()


def test_duplicate_id_is_refused_and_the_file_untouched(path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(DuplicateTenant) as caught:
        add_tenant(path, {"id": "acme", "plan": "pro"})

    assert isinstance(caught.value, EditError)
    assert str(caught.value) == f"tenant 'acme' already exists in {path}"
    assert_untouched(path, before)


SECRET_LOOKING = "Zq8vK2mXw7Lp4Rt9Nc3Bj6Hd"  # 24 mixed characters of high entropy


@pytest.mark.parametrize(
    ("fields", "where", "message"),
    [
        ({"id": "newco", "plan": "platinum"}, ("plan",), "unknown plan 'platinum'; known: basic, enterprise, pro"),
        ({"id": "New_Co"}, ("id",), "'New_Co' is not a DNS label"),
        ({"id": "admin"}, ("id",), "'admin' is reserved"),
        ({"id": "ab"}, ("id",), "'ab' must be 3 to 40 characters long"),
        ({"id": "newco", "model_provider": "gemini"}, ("model_provider",), "Input should be 'kimi'"),
        ({"id": "newco", "colour": "red"}, ("colour",), "unknown key 'colour'"),
        ({"plan": "basic"}, ("id",), "required key is missing"),
        (
            {"id": "newco", "labels": {"note": "sk-" + "a1B2" * 6}},
            ("labels", "note"),
            "value looks like a provider API key (sk-...); secrets never go in tenants.yaml",
        ),
        (
            {"id": "newco", "labels": {"ref": SECRET_LOOKING}},
            ("labels", "ref"),
            "value looks like a secret (long random string); secrets never go in tenants.yaml",
        ),
        (
            {"id": "newco", "plan": "enterprise", "state": "suspended", "overrides": {"cpus": 16}},
            ("plan",),
            "tenant 'newco' needs cpus 16 but target 'local' has only 8",
        ),
    ],
    ids=[
        "unknown-plan",
        "bad-id",
        "reserved-id",
        "short-id",
        "unknown-provider",
        "unknown-key",
        "missing-id",
        "api-key-label",
        "random-label",
        "larger-than-host",
    ],
)
def test_invalid_add_raises_fleet_error_and_leaves_the_file_byte_identical(
    path: Path, fields: dict[str, object], where: tuple[str, ...], message: str
) -> None:
    assert looks_random(SECRET_LOOKING)
    before = path.read_bytes()
    with pytest.raises(FleetError) as caught:
        add_tenant(path, fields)

    problems = caught.value.problems
    assert [p.path for p in problems] == [("tenants", 6, *where)], caught.value.render()
    assert problems[0].message.startswith(message) or message in problems[0].message
    assert caught.value.source == str(path)
    assert_untouched(path, before)


def test_values_yaml_cannot_hold_are_refused(path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(EditError, match=r"^labels\.team: cannot write a set into tenants\.yaml$"):
        add_tenant(path, {"id": "newco", "labels": {"team": {"a"}}})
    assert_untouched(path, before)


def test_an_invalid_file_is_never_edited(tmp_path: Path) -> None:
    text = swap(EXAMPLE.read_text(), "  - id: globex\n    plan: pro\n", "  - id: globex\n    plan: gold\n")
    path = write(tmp_path, text)
    before = path.read_bytes()
    attempts: list[Callable[[], EditResult]] = [
        lambda: add_tenant(path, {"id": "newco"}),
        lambda: set_state(path, "acme", "suspended"),
    ]
    for attempt in attempts:
        with pytest.raises(FleetError) as caught:
            attempt()
        assert [p.path for p in caught.value.problems] == [("tenants", 1, "plan")]
        assert_untouched(path, before)


def test_a_missing_file_is_an_edit_error(tmp_path: Path) -> None:
    with pytest.raises(EditError, match=r"^cannot read .*absent\.yaml: No such file or directory$"):
        add_tenant(tmp_path / "absent.yaml", {"id": "newco"})
    assert not (tmp_path / "absent.yaml").exists()


# --- set_state ---------------------------------------------------------------------------------


def test_suspend_inserts_one_line_after_the_plan(path: Path) -> None:
    before = path.read_text()
    result = set_state(path, "acme", "suspended")

    after = path.read_text()
    assert after == swap(
        before, "  - id: acme\n    plan: basic\n", "  - id: acme\n    plan: basic\n    state: suspended\n"
    )
    assert diff(before, after) == ["+    state: suspended"]
    assert result.changed is True
    assert result.tenant == load_fleet(path).tenant("acme")
    assert result.tenant.state == "suspended"


def test_resume_removes_the_state_key(path: Path) -> None:
    before = path.read_text()
    result = set_state(path, "umbrella", "active")

    after = path.read_text()
    assert after == swap(
        before,
        "    plan: basic\n    state: suspended\n    model_provider: openrouter\n",
        "    plan: basic\n    model_provider: openrouter\n",
    )
    assert diff(before, after) == ["-    state: suspended"]
    assert "state: active" not in after
    assert (result.changed, result.tenant.state) == (True, "active")


def test_offboard_changes_only_the_state_line(path: Path) -> None:
    before = path.read_text()
    result = set_state(path, "umbrella", "offboarded")

    assert diff(before, path.read_text()) == ["-    state: suspended", "+    state: offboarded"]
    assert result.tenant.state == "offboarded"
    assert result.fleet.tenant("umbrella").live is False


def test_an_offboarded_tenant_can_be_resumed_and_the_file_is_as_before(path: Path) -> None:
    original = path.read_bytes()
    assert set_state(path, "acme", "offboarded").tenant.state == "offboarded"
    assert set_state(path, "acme", "suspended").tenant.state == "suspended"
    resumed = set_state(path, "acme", "active")

    assert (resumed.changed, resumed.tenant.state) == (True, "active")
    assert path.read_bytes() == original


def test_resume_of_the_last_key_of_the_last_entry(path: Path) -> None:
    before = path.read_text()
    set_state(path, "vandelay", "active")

    after = path.read_text()
    assert diff(before, after) == ["-    state: suspended"]
    assert after.endswith("    shard: k8s-example\n    model_provider: openai\n")


def test_removing_a_last_key_keeps_the_blank_line_and_comment_after_it(tmp_path: Path) -> None:
    text = swap(
        EXAMPLE.read_text(),
        "    state: suspended\n    model_provider: openrouter\n",
        "    model_provider: openrouter\n    state: suspended   # unpaid invoice\n",
    )
    path = write(tmp_path, text)
    set_state(path, "umbrella", "offboarded")
    assert diff(text, path.read_text()) == [
        "-    state: suspended   # unpaid invoice",
        "+    state: offboarded  # unpaid invoice",
    ]

    set_state(path, "umbrella", "active")
    assert path.read_text() == swap(text, "    state: suspended   # unpaid invoice\n", "")
    assert "openrouter\n\n  # Customers on a Kubernetes cluster" in path.read_text()


def test_adding_a_state_to_an_entry_of_only_an_id(tmp_path: Path) -> None:
    text = SMALL + "tenants:\n  - id: acme\n\n  - id: globex\n\n# the end\n"
    path = write(tmp_path, text)
    set_state(path, "globex", "suspended")
    set_state(path, "acme", "offboarded")

    assert path.read_text() == (
        SMALL + "tenants:\n  - id: acme\n    state: offboarded\n\n  - id: globex\n    state: suspended\n\n# the end\n"
    )


def test_a_quoted_state_keeps_its_quotes(tmp_path: Path) -> None:
    text = swap(
        EXAMPLE.read_text(),
        "    state: suspended\n    model_provider: openrouter",
        '    state: "suspended"\n    model_provider: openrouter',
    )
    path = write(tmp_path, text)
    set_state(path, "umbrella", "offboarded")

    assert diff(text, path.read_text()) == ['-    state: "suspended"', '+    state: "offboarded"']


@pytest.mark.parametrize(
    ("tenant_id", "state"),
    [("umbrella", "suspended"), ("acme", "active"), ("vandelay", "suspended"), ("hooli", "active")],
)
def test_a_state_already_in_effect_leaves_the_file_alone(path: Path, tenant_id: str, state: str) -> None:
    before = path.read_bytes()
    inode = path.stat().st_ino
    result = set_state(path, tenant_id, state)  # type: ignore[arg-type]

    assert result.changed is False
    assert result.tenant.state == state
    assert result.fleet == load_fleet(path)
    assert_untouched(path, before)
    assert path.stat().st_ino == inode


def test_offboarding_twice_changes_the_file_once(path: Path) -> None:
    assert set_state(path, "globex", "offboarded").changed is True
    after_first = path.read_bytes()
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    assert set_state(path, "globex", "offboarded").changed is False
    assert_untouched(path, after_first)


def test_unknown_tenant(path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(UnknownTenant) as caught:
        set_state(path, "nobody", "suspended")

    assert isinstance(caught.value, EditError)
    assert str(caught.value) == f"no tenant 'nobody' in {path}"
    assert_untouched(path, before)


def test_unknown_state(path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(EditError, match=r"^unknown state 'paused'; one of: active, suspended, offboarded$"):
        set_state(path, "acme", "paused")  # type: ignore[arg-type]
    assert_untouched(path, before)


def test_resume_beyond_capacity_is_refused(tmp_path: Path) -> None:
    text = swap(SMALL, "cpus: 8,", "cpus: 1.5,") + "tenants:\n  - id: acme\n  - id: globex\n    state: suspended\n"
    path = write(tmp_path, text)
    before = path.read_bytes()
    with pytest.raises(FleetError) as caught:
        set_state(path, "globex", "active")

    assert [(p.path, p.message) for p in caught.value.problems] == [
        (
            ("targets", "local", "capacity", "cpus"),
            "target 'local': active tenants need 2 CPUs but capacity is 1.5 x overcommit 1 = 1.5",
        )
    ]
    assert_untouched(path, before)


# --- atomic replace ----------------------------------------------------------------------------


def test_a_failed_validation_of_the_new_text_leaves_the_original(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = parse_fleet

    def crash_on_the_new_text(text: str, source: str) -> Fleet:
        calls.append(text)
        if len(calls) == 2:
            raise FleetError(source, [])
        return real(text, source)

    monkeypatch.setattr(yaml_document, "parse_fleet", crash_on_the_new_text)
    before = path.read_bytes()
    with pytest.raises(FleetError):
        add_tenant(path, {"id": "newco"})

    assert calls[0] == before.decode() and "newco" in calls[1]
    assert_untouched(path, before)


@pytest.mark.parametrize("failing", ["fsync", "replace", "chmod"])
def test_a_crash_while_writing_leaves_the_original_and_no_temporary_file(
    path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)
    before = path.read_bytes()
    with pytest.raises(OSError, match="No space left on device"):
        set_state(path, "acme", "suspended")

    monkeypatch.undo()
    assert_untouched(path, before)
    # The lock was released: the next edit goes through at once.
    assert set_state(path, "acme", "suspended", lock_timeout_s=0).changed is True


def test_the_file_is_replaced_not_rewritten_and_keeps_its_mode(path: Path) -> None:
    path.chmod(0o640)
    inode = path.stat().st_ino
    set_state(path, "acme", "suspended")

    assert path.stat().st_ino != inode
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert leftovers(path) == []
    assert (path.parent / "tenants.yaml.lock").exists()


def test_an_edit_through_a_symlink_changes_the_file_it_points_to(path: Path) -> None:
    link = path.parent / "link.yaml"
    link.symlink_to(path.name)
    set_state(link, "acme", "suspended")

    assert link.is_symlink()
    assert load_fleet(path).tenant("acme").state == "suspended"


# --- locking -----------------------------------------------------------------------------------


class WatchedLock:
    """Stands in for the in-process lock of one file and logs, in order, every wait for it and how it ended."""

    def __init__(self, real: Callable[[str], threading.Lock]) -> None:
        self.real = real
        self.lock = threading.Lock()
        self.log: list[str] = []  # "waits 0.3", then "obtains 0.3" or "gives up 0.3" (the wait's timeout)
        self.changed = threading.Condition()

    def __call__(self, key: str) -> WatchedLock:
        self.lock = self.real(key)
        return self

    def acquire(self, timeout: float) -> bool:
        with self.changed:
            self.log.append(f"waits {timeout:g}")
            self.changed.notify_all()
        obtained = self.lock.acquire(timeout=timeout)
        self.log.append(f"{'obtains' if obtained else 'gives up'} {timeout:g}")
        return obtained

    def release(self) -> None:
        self.lock.release()

    def wait_for_waits(self, count: int) -> bool:
        """Whether ``count`` waits have begun (within a bounded time)."""
        with self.changed:
            return self.changed.wait_for(lambda: sum(e.startswith("waits") for e in self.log) >= count, timeout=5)


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> WatchedLock:
    watcher = WatchedLock(file_lock._thread_lock)
    monkeypatch.setattr(file_lock, "_thread_lock", watcher)
    return watcher


class FakeClock:
    """The lock's clock: sleeping moves it on at once, and every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_an_edit_waits_at_most_its_lock_timeout(path: Path, watched: WatchedLock) -> None:
    before = path.read_bytes()
    with locked(path, 1.0):
        with pytest.raises(
            EditError, match=r"is being edited by someone else: gave up waiting for .*\.lock after 0\.3 s"
        ):
            add_tenant(path, {"id": "newco"}, lock_timeout_s=0.3)
        with pytest.raises(EditError, match="gave up waiting"):
            set_state(path, "acme", "suspended", lock_timeout_s=0)
        # Each edit waited for the held lock as long as its timeout allowed and gave up without it.
        assert watched.log == ["waits 1", "obtains 1", "waits 0.3", "gives up 0.3", "waits 0", "gives up 0"]
    assert_untouched(path, before)
    assert add_tenant(path, {"id": "newco"}, lock_timeout_s=0).changed is True
    assert watched.log[-2:] == ["waits 0", "obtains 0"]


HOLD_LOCK = (
    "import fcntl, sys\n"
    "f = open(sys.argv[1], 'w')\n"
    "fcntl.flock(f, fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


def test_an_edit_waits_at_most_its_lock_timeout_for_another_process(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_LOCK,
            f"{path}.lock",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        before = path.read_bytes()
        clock = FakeClock()
        monkeypatch.setattr(file_lock, "time", clock)
        with pytest.raises(EditError, match=r"gave up waiting for .*\.lock after 0\.3 s"):
            set_state(path, "acme", "suspended", lock_timeout_s=0.3)
        monkeypatch.undo()
        # It tried again and again until its whole timeout was spent, and no longer.
        assert len(clock.slept) > 1 and all(s > 0 for s in clock.slept)
        assert sum(clock.slept) == pytest.approx(0.3)
        assert holder.poll() is None  # the other process still holds the lock
        assert_untouched(path, before)
    finally:
        holder.communicate("", timeout=10)
    assert set_state(path, "acme", "suspended", lock_timeout_s=5).changed is True


def test_an_edit_waits_for_the_lock_and_then_proceeds(path: Path, watched: WatchedLock) -> None:
    holding = threading.Event()
    release = threading.Event()
    results: list[EditResult] = []

    def hold() -> None:
        with locked(path, 1.0):
            holding.set()
            assert release.wait(5)
            watched.log.append("the holder releases")

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(5)
    waiter = threading.Thread(target=lambda: results.append(add_tenant(path, {"id": "newco"}, lock_timeout_s=5)))
    waiter.start()
    assert watched.wait_for_waits(2)  # the waiter is waiting for the held lock
    release.set()
    holder.join(5)
    waiter.join(5)

    assert not holder.is_alive() and not waiter.is_alive()
    # The waiter obtained the lock only after the holder released it.
    assert watched.log == ["waits 1", "obtains 1", "waits 5", "the holder releases", "obtains 5"]
    (result,) = results
    assert result.tenant.id == "newco"


def test_the_lock_is_released_when_an_edit_is_refused(path: Path) -> None:
    with pytest.raises(DuplicateTenant):
        add_tenant(path, {"id": "acme"})
    with pytest.raises(FleetError):
        add_tenant(path, {"id": "newco", "plan": "platinum"})
    with locked(path, 0):
        pass


def test_a_lock_file_that_cannot_be_created_is_an_edit_error(tmp_path: Path) -> None:
    with (
        pytest.raises(EditError, match=r"^cannot open the lock file .*nowhere/tenants\.yaml\.lock: "),
        locked(tmp_path / "nowhere" / "tenants.yaml", 1),
    ):
        pass  # pragma: no cover


WORKERS = 8
PER_WORKER = 10


def _add_many(path: str, worker: int, start: object) -> None:
    """One process of the concurrency test: wait for the others, then add PER_WORKER tenants."""
    start.wait()  # type: ignore[attr-defined]
    for n in range(PER_WORKER):
        add_tenant(
            Path(path),
            {"id": f"w{worker}-n{n}", "target": "cluster-eu", "shard": "k8s-example", "model_provider": "openai"},
            lock_timeout_s=120,
        )


def test_concurrent_processes_lose_no_update(path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS)
    processes = [context.Process(target=_add_many, args=(str(path), w, start)) for w in range(WORKERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)

    assert [p.exitcode for p in processes] == [0] * WORKERS
    fleet = load_fleet(path)
    added = {f"w{w}-n{n}" for w in range(WORKERS) for n in range(PER_WORKER)}
    ids = [t.id for t in fleet.tenants]
    assert len(ids) == len(EXAMPLE_IDS) + WORKERS * PER_WORKER
    assert set(ids) == {*EXAMPLE_IDS, *added}
    for w in range(WORKERS):  # each process's tenants in the order it added them
        mine = [i for i in ids if i.startswith(f"w{w}-")]
        assert mine == [f"w{w}-n{n}" for n in range(PER_WORKER)]
    text = path.read_text()
    assert text.startswith(EXAMPLE.read_text())
    assert text.count("\n\n  - id: w") == WORKERS * PER_WORKER
    assert leftovers(path) == []


def test_concurrent_threads_lose_no_update(path: Path) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(5):
                add_tenant(path, {"id": f"th{worker}-n{n}", "target": "cluster-eu", "shard": "k8s-example"})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(load_fleet(path).tenants) == len(EXAMPLE_IDS) + 20


def edits(path: Path, forget: bool) -> bytes:
    """A run of edits; with ``forget`` every one starts from the file, not from the last edit's tree."""
    steps: list[Callable[[], EditResult]] = [
        lambda: add_tenant(path, {"id": "one", "plan": "pro", "labels": {"n": "1"}}),
        lambda: set_state(path, "umbrella", "active"),
        lambda: set_state(path, "one", "suspended"),
        lambda: add_tenant(path, {"id": "two", "target": "cluster-eu", "shard": "k8s-example"}),
        lambda: set_state(path, "vandelay", "offboarded"),
        lambda: set_state(path, "two", "suspended"),
        lambda: set_state(path, "one", "active"),
        lambda: add_tenant(path, {"id": "three"}),
    ]
    for step in steps:
        if forget:
            yaml_document._CACHE.clear()
        step()
    return path.read_bytes()


def test_consecutive_edits_in_one_process_write_what_fresh_reads_would(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    remembered = edits(write(tmp_path / "a", EXAMPLE.read_text()), forget=False)
    fresh = edits(write(tmp_path / "b", EXAMPLE.read_text()), forget=True)

    assert remembered == fresh
    assert remembered.decode().startswith(EXAMPLE.read_text().split("  - id: umbrella")[0])


def test_a_refused_edit_leaves_no_trace_in_the_next_one(path: Path) -> None:
    add_tenant(path, {"id": "one"})
    with pytest.raises(FleetError):
        add_tenant(path, {"id": "two", "plan": "platinum"})
    with pytest.raises(FleetError):
        add_tenant(path, {"id": "admin"})
    add_tenant(path, {"id": "three"})

    text = path.read_text()
    assert "platinum" not in text and "admin" not in text
    assert [t.id for t in load_fleet(path).tenants] == [*EXAMPLE_IDS, "one", "three"]


def test_an_edit_by_someone_else_is_seen_by_the_next_edit(path: Path) -> None:
    add_tenant(path, {"id": "one"})
    path.write_text(path.read_text() + "\n  - id: manual   # added by hand\n")
    add_tenant(path, {"id": "two"})

    assert path.read_text().endswith("\n  - id: one\n\n  - id: manual   # added by hand\n\n  - id: two\n")


# --- generate_id and placement ----------------------------------------------------------------


@pytest.fixture
def fleet() -> Fleet:
    return load_fleet(EXAMPLE)


def test_generated_ids_are_unique_valid_and_unused(fleet: Fleet) -> None:
    ids = [generate_id(fleet) for _ in range(2000)]

    assert len(set(ids)) == len(ids)
    for tenant_id in ids:
        assert re.fullmatch(r"t-[a-z0-9]{8}", tenant_id)
        assert TENANT_ID.match(tenant_id)
        assert tenant_id not in RESERVED_IDS
        assert tenant_id not in EXAMPLE_IDS


def test_a_generated_id_is_accepted_by_the_fleet(path: Path, fleet: Fleet) -> None:
    tenant_id = generate_id(fleet, "acct")
    assert re.fullmatch(r"acct-[a-z0-9]{8}", tenant_id)
    assert add_tenant(path, {"id": tenant_id}).tenant.id == tenant_id


def test_generate_id_skips_taken_reserved_and_invalid_candidates(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    candidates = iter(["admin", "acme", "-bad", "x", "fresh01x"])
    monkeypatch.setattr(tenant_ids, "_random_suffix", lambda: next(candidates))

    assert generate_id(fleet, "") == "fresh01x"


@pytest.mark.parametrize("prefix", ["T", "-t", "t-", "t_x", "x" * 32])
def test_generate_id_refuses_a_bad_prefix(fleet: Fleet, prefix: str) -> None:
    with pytest.raises(ValueError, match="tenant id prefix"):
        generate_id(fleet, prefix)


def test_generate_id_accepts_the_longest_prefix(fleet: Fleet) -> None:
    tenant_id = generate_id(fleet, "x" * 31)
    assert len(tenant_id) == 40
    assert TENANT_ID.match(tenant_id)


def test_least_loaded_shard_is_the_one_with_fewest_tenants(fleet: Fleet) -> None:
    assert [t.shard for t in fleet.tenants].count("default") == 4
    assert least_loaded_shard(fleet) == "k8s-example"


def reshard(fleet: Fleet, *shards: str) -> Fleet:
    tenants = tuple(t.model_copy(update={"shard": s}) for t, s in zip(fleet.tenants, shards, strict=False))
    return fleet.model_copy(update={"tenants": tenants})


def test_least_loaded_shard_ties_go_to_the_first_name(fleet: Fleet) -> None:
    assert least_loaded_shard(reshard(fleet, "eu", "us", "eu", "us", "ap", "ap")) == "ap"
    assert least_loaded_shard(reshard(fleet, "us", "us", "eu", "eu", "eu", "us")) == "eu"
    assert least_loaded_shard(reshard(fleet, "b", "a", "b", "a", "c")) == "c"


def test_least_loaded_shard_of_an_empty_fleet_is_the_default() -> None:
    empty = parse_fleet(SMALL.replace("model_provider: kimi}", "model_provider: kimi, shard: eu}") + "tenants: []\n")
    assert least_loaded_shard(empty) == "eu"


def test_shard_for_new_tenant(fleet: Fleet) -> None:
    assert fleet.defaults.shard == "default"
    assert shard_for_new_tenant(fleet, None) == "default"  # local's tenants are all in the default shard
    assert shard_for_new_tenant(fleet, "local") == "default"
    assert shard_for_new_tenant(fleet, "cluster-eu") == "k8s-example"
    assert (
        shard_for_new_tenant(
            fleet.model_copy(update={"targets": {**fleet.targets, "new": fleet.targets["cluster-eu"]}}), "new"
        )
        == "k8s-example"
    )
    one_shard = fleet.model_copy(update={"tenants": fleet.tenants[:4]})
    assert shard_for_new_tenant(one_shard, "cluster-eu") == "default"  # one shard: the defaults decide


def test_shard_for_new_tenant_keeps_the_shard_it_is_given(fleet: Fleet) -> None:
    assert shard_for_new_tenant(fleet, "cluster-eu", "eu2") == "eu2"
    assert shard_for_new_tenant(fleet, None, "default") == "default"
    assert shard_for_new_tenant(fleet, "local", None) == "default"


# --- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def app() -> typer.Typer:
    return app_with(register)


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    yield CliRunner()


def test_cli_add_on_the_default_target_leaves_the_shard_to_the_defaults(
    app: typer.Typer, runner: CliRunner, path: Path
) -> None:
    before = path.read_text()
    result = runner.invoke(app, ["add", "newco", "--plan", "pro", "--provider", "openai", "--file", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"added tenant newco to {path} (plan pro, provider openai, target local, shard default); "
        "deploy shard default to create it\n"
    )
    assert path.read_text() == before + "\n  - id: newco\n    plan: pro\n    model_provider: openai\n"


def test_cli_add_on_a_cluster_joins_its_shard(app: typer.Typer, runner: CliRunner, path: Path) -> None:
    before = path.read_text()
    args = ["add", "newco", "--plan", "basic", "--provider", "kimi", "--target", "cluster-eu", "-f", str(path)]
    result = runner.invoke(app, args)

    assert result.exit_code == 0, result.output
    assert "target cluster-eu, shard k8s-example" in result.stdout
    assert diff(before, path.read_text())[1:] == [
        "+  - id: newco",
        "+    plan: basic",
        "+    target: cluster-eu",
        "+    shard: k8s-example",
        "+    model_provider: kimi",
    ]


def test_cli_add_with_an_explicit_shard(app: typer.Typer, runner: CliRunner, path: Path) -> None:
    args = ["add", "newco", "--plan", "basic", "--provider", "kimi", "--target", "cluster-eu", "--shard", "eu2"]
    result = runner.invoke(app, [*args, "--file", str(path)])

    assert result.exit_code == 0, result.output
    assert load_fleet(path).tenant("newco").shard == "eu2"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "acme", "--plan", "pro", "--provider", "kimi"], "tenant 'acme' already exists in {path}\n"),
        (
            ["add", "newco", "--plan", "platinum", "--provider", "kimi"],
            "{path}: 1 problem found\n"
            "  {path}:116: tenants[6].plan: unknown plan 'platinum'; known: basic, enterprise, pro\n",
        ),
        (["suspend", "nobody"], "no tenant 'nobody' in {path}\n"),
        (["resume", "nobody"], "no tenant 'nobody' in {path}\n"),
        (["offboard", "nobody"], "no tenant 'nobody' in {path}\n"),
    ],
    ids=["duplicate", "invalid", "suspend-unknown", "resume-unknown", "offboard-unknown"],
)
def test_cli_refusals_exit_1_with_the_problem(
    app: typer.Typer, runner: CliRunner, path: Path, args: list[str], message: str
) -> None:
    before = path.read_bytes()
    result = runner.invoke(app, [*args, "--file", str(path)])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == message.format(path=path)
    assert_untouched(path, before)


def test_cli_state_commands(app: typer.Typer, runner: CliRunner, path: Path) -> None:
    def run(*args: str) -> str:
        result = runner.invoke(app, [*args, "--file", str(path)])
        assert result.exit_code == 0, result.output
        assert result.stderr == ""
        return result.stdout

    assert run("suspend", "acme") == (
        f"suspended tenant acme in {path} (its gateway stops; its data and token are kept); "
        "deploy shard default to apply\n"
    )
    assert run("suspend", "acme") == "tenant acme is already suspended\n"
    assert run("offboard", "hooli") == (
        f"offboarded tenant hooli in {path} (only its data and token are kept); deploy shard k8s-example to apply\n"
    )
    assert run("resume", "hooli") == f"resumed tenant hooli in {path}; deploy shard k8s-example to apply\n"
    assert run("resume", "hooli") == "tenant hooli is already active\n"
    fleet = load_fleet(path)
    assert (fleet.tenant("acme").state, fleet.tenant("hooli").state) == ("suspended", "active")


def test_cli_add_refuses_an_invalid_file(app: typer.Typer, runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, "version: 2\n")
    result = runner.invoke(app, ["add", "newco", "--plan", "pro", "--provider", "kimi", "--file", str(path)])

    assert result.exit_code == 1
    assert f"{path}:1: version: unsupported version 2" in result.stderr


def test_the_editor_never_imports_pulumi() -> None:
    code = "import sys, tenants.edit, tenantctl.edit; print(sorted(m for m in sys.modules if 'pulumi' in m))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


# --- apply_edits: a batch, one validation, one write -------------------------------------------


@pytest.fixture
def replaced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The targets of every os.replace made while the test runs (one per write of the file)."""
    calls: list[str] = []
    real = os.replace

    def counting(src: str, dst: str) -> None:
        calls.append(str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", counting)
    return calls


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the editor validates."""
    calls: list[str] = []
    real = parse_fleet

    def counting(text: str, source: str) -> Fleet:
        calls.append(text)
        return real(text, source)

    monkeypatch.setattr(yaml_document, "parse_fleet", counting)
    return calls


# The steps of ``edits()`` as one batch.
BATCH = [
    Edit.add({"id": "one", "plan": "pro", "labels": {"n": "1"}}),
    Edit.set_state("umbrella", "active"),
    Edit.set_state("one", "suspended"),
    Edit.add({"id": "two", "target": "cluster-eu", "shard": "k8s-example"}),
    Edit.set_state("vandelay", "offboarded"),
    Edit.set_state("two", "suspended"),
    Edit.set_state("one", "active"),
    Edit.add({"id": "three"}),
]


def one_by_one(path: Path, batch: list[Edit]) -> list[EditOutcome]:
    """What add_tenant / set_state do with the batch's edits, one after another."""
    out: list[EditOutcome] = []
    for step in batch:
        try:
            if step.kind == "add":
                out.append(add_tenant(path, step.fields))
            else:
                out.append(set_state(path, step.tenant_id, step.state))  # type: ignore[arg-type]
        except (EditError, FleetError) as exc:
            out.append(exc)
    return out


def same_outcomes(batch: list[EditOutcome], single: list[EditOutcome], path: Path, reference: Path) -> None:
    """The batch's outcomes are those of the single edits: the same refusals, the same messages."""
    assert [type(o) for o in batch] == [type(o) for o in single]
    for got, want in zip(batch, single, strict=True):
        if isinstance(want, FleetError):
            assert isinstance(got, FleetError)
            assert [(p.path, p.message) for p in got.problems] == [(p.path, p.message) for p in want.problems]
        elif isinstance(want, EditError):
            assert str(got) == str(want).replace(str(reference), str(path))
        else:
            assert isinstance(got, EditResult)
            assert (got.tenant.id, got.changed) == (want.tenant.id, want.changed)


def test_a_batch_is_validated_and_written_once_as_the_single_edits_would_write_it(
    tmp_path: Path, replaced: list[str], validations: list[str]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    expected = edits(write(tmp_path / "b", EXAMPLE.read_text()), forget=False)
    path = write(tmp_path / "a", EXAMPLE.read_text())
    yaml_document._CACHE.clear()
    replaced.clear()
    validations.clear()

    results = apply_edits(path, BATCH)

    assert path.read_bytes() == expected
    assert replaced == [str(path)]  # one write
    assert len(validations) == 2  # the file as it was, and the new fleet once
    assert all(isinstance(r, EditResult) and r.changed for r in results)
    on_disk = load_fleet(path)
    assert [r.tenant.id for r in results if isinstance(r, EditResult)] == [
        "one",
        "umbrella",
        "one",
        "two",
        "vandelay",
        "two",
        "one",
        "three",
    ]
    for result in results:
        assert isinstance(result, EditResult)
        assert result.fleet == on_disk  # every result carries the fleet written at the end
        assert result.tenant == on_disk.tenant(result.tenant.id)
    assert leftovers(path) == []

    # The batch's tree is remembered like a single edit's: the next edit writes what a fresh read would.
    add_tenant(path, {"id": "four"})
    assert path.read_text() == expected.decode() + "\n  - id: four\n"


@pytest.mark.parametrize(
    "text",
    [
        SMALL + "tenants: []\n# the end\n",
        SMALL + "",
        SMALL + "tenants:\n  - {id: acme, plan: basic}\n  - {id: globex, plan: pro}\n",
        SMALL + "tenants:\n- id: acme\n  labels:\n    team: a\n\n- id: globex\n  plan: pro\n",
        (SMALL + "tenants:\n  - id: acme\n").replace("\n", "\r\n"),
        EXAMPLE.read_text() + "\n# Add new customers above this line.\n",
    ],
    ids=["empty-list", "missing", "flow-style", "other-indentation", "crlf", "trailing-comment"],
)
def test_a_batch_keeps_the_formatting_single_edits_keep(tmp_path: Path, text: str, replaced: list[str]) -> None:
    batch = [
        Edit.add({"id": "newco", "plan": "pro"}),
        Edit.add({"id": "other", "labels": {"team": "b"}}),
        Edit.set_state("newco", "suspended"),
    ]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reference = tmp_path / "b" / "tenants.yaml"
    reference.write_bytes(text.encode())
    one_by_one(reference, batch)
    path = tmp_path / "a" / "tenants.yaml"
    path.write_bytes(text.encode())
    replaced.clear()

    assert all(isinstance(r, EditResult) for r in apply_edits(path, batch))
    assert path.read_bytes() == reference.read_bytes()
    assert replaced == [str(path)]


def test_bad_edits_in_a_batch_fail_alone_and_the_others_land_in_one_write(tmp_path: Path, replaced: list[str]) -> None:
    batch = [
        Edit.add({"id": "good-1", "plan": "pro"}),
        Edit.add({"id": "bad-plan", "plan": "platinum"}),  # the fleet refuses it: FleetError
        Edit.set_state("acme", "suspended"),
        Edit.add({"id": "acme"}),  # DuplicateTenant
        Edit.set_state("nobody", "suspended"),  # UnknownTenant
        Edit.set_state("globex", "paused"),  # EditError before anything is read
        Edit.add({"id": "admin"}),  # a reserved id: FleetError
        Edit.add({"id": "good-2", "labels": {"team": "b"}}),
        Edit.add({"id": "good-1"}),  # a duplicate of an edit earlier in the batch
        Edit.add({"id": "bad-value", "labels": {"team": {"a", "b"}}}),  # EditError: YAML cannot hold a set
        Edit.set_state("umbrella", "active"),
    ]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reference = write(tmp_path / "b", EXAMPLE.read_text())
    single = one_by_one(reference, batch)
    path = write(tmp_path / "a", EXAMPLE.read_text())
    replaced.clear()

    results = apply_edits(path, batch)

    assert [type(r).__name__ for r in results] == [
        "EditResult",
        "FleetError",
        "EditResult",
        "DuplicateTenant",
        "UnknownTenant",
        "EditError",
        "FleetError",
        "EditResult",
        "DuplicateTenant",
        "EditError",
        "EditResult",
    ]
    same_outcomes(results, single, path, reference)
    bad_plan = results[1]
    assert isinstance(bad_plan, FleetError)
    assert [p.path[:3] for p in bad_plan.problems] == [("tenants", 7, "plan")]  # after good-1, as on its own
    assert path.read_bytes() == reference.read_bytes()
    assert replaced == [str(path)]
    assert [t.id for t in load_fleet(path).tenants] == [*EXAMPLE_IDS, "good-1", "good-2"]
    assert "platinum" not in path.read_text() and "admin" not in path.read_text()


def test_a_bad_edit_blamed_by_the_validation_costs_a_few_validations_not_one_per_edit(
    tmp_path: Path, replaced: list[str], validations: list[str]
) -> None:
    large = "      cpus: 128\n      memory_gib: 1024\n      networks: 4096"
    path = write(tmp_path, swap(EXAMPLE.read_text(), "      cpus: 8\n      memory_gib: 32\n      networks: 30", large))
    batch = [Edit.add({"id": f"new-{i:02d}"}) for i in range(40)]
    batch[17] = Edit.add({"id": "bad-plan", "plan": "platinum"})
    yaml_document._CACHE.clear()
    validations.clear()

    results = apply_edits(path, batch)

    assert [i for i, r in enumerate(results) if not isinstance(r, EditResult)] == [17]
    # The file, all 40 at once, the 17 before the bad one, the bad one alone, the 22 after it.
    assert len(validations) == 5
    assert replaced == [str(path)]
    assert len(load_fleet(path).tenants) == len(EXAMPLE_IDS) + 39


def test_a_batch_over_capacity_lands_what_fits_as_single_edits_would(tmp_path: Path, replaced: list[str]) -> None:
    """Problems no tenant entry is blamed for (a target's capacity) are isolated by halving the batch."""
    text = swap(SMALL, "cpus: 8,", "cpus: 4,") + "tenants:\n  - id: acme\n"
    batch = [Edit.add({"id": f"new-{i}"}) for i in range(1, 6)]  # one basic tenant needs 1 CPU
    batch.insert(4, Edit.set_state("acme", "suspended"))  # frees a CPU for the last one
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reference = write(tmp_path / "b", text)
    single = one_by_one(reference, batch)
    path = write(tmp_path / "a", text)
    replaced.clear()

    results = apply_edits(path, batch)

    same_outcomes(results, single, path, reference)
    assert [type(r).__name__ for r in results] == ["EditResult"] * 3 + ["FleetError"] + ["EditResult"] * 2
    refused = results[3]
    assert isinstance(refused, FleetError)
    assert [p.path for p in refused.problems] == [("targets", "local", "capacity", "cpus")]
    assert path.read_bytes() == reference.read_bytes()
    assert replaced == [str(path)]
    fleet = load_fleet(path)
    assert [(t.id, t.state) for t in fleet.tenants] == [
        ("acme", "suspended"),
        ("new-1", "active"),
        ("new-2", "active"),
        ("new-3", "active"),
        ("new-5", "active"),
    ]


def test_a_batch_that_changes_nothing_does_not_write(path: Path, replaced: list[str]) -> None:
    before = path.read_bytes()
    results = apply_edits(
        path,
        [
            Edit.set_state("umbrella", "suspended"),
            Edit.add({"id": "acme"}),
            Edit.set_state("nobody", "active"),
            Edit.add({"id": "newco", "plan": "platinum"}),
        ],
    )

    assert [type(r).__name__ for r in results] == ["EditResult", "DuplicateTenant", "UnknownTenant", "FleetError"]
    assert isinstance(results[0], EditResult) and results[0].changed is False
    assert results[0].fleet == load_fleet(path)
    assert replaced == []
    assert_untouched(path, before)


def test_a_batch_raises_when_no_edit_can_be_tried(path: Path, tmp_path: Path) -> None:
    before = path.read_bytes()
    assert apply_edits(path, []) == []
    with locked(path, 1.0):
        with pytest.raises(EditError, match="gave up waiting"):
            apply_edits(path, [Edit.add({"id": "newco"}), Edit.set_state("acme", "suspended")], lock_timeout_s=0)
        # Edits refused before the file is read need no lock.
        (refused,) = apply_edits(path, [Edit.set_state("acme", "paused")], lock_timeout_s=0)
        assert isinstance(refused, EditError) and "unknown state 'paused'" in str(refused)
    assert_untouched(path, before)

    (tmp_path / "invalid").mkdir()
    invalid = write(tmp_path / "invalid", SMALL + "tenants: 3\n")
    with pytest.raises(FleetError):
        apply_edits(invalid, [Edit.add({"id": "newco"}), Edit.add({"id": "other"})])


def test_an_edit_kind_must_be_add_or_state() -> None:
    with pytest.raises(ValueError, match="unknown edit kind 'remove'"):
        Edit("remove")  # type: ignore[arg-type]


def test_on_written_sees_the_written_fleet_while_the_file_is_still_locked(path: Path) -> None:
    seen: list[tuple[Fleet, bytes, bool]] = []

    def on_written(fleet: Fleet) -> None:
        free: list[bool] = []

        def try_lock() -> None:
            try:
                with locked(path, 0):
                    free.append(True)
            except EditError:
                free.append(False)

        other = threading.Thread(target=try_lock)
        other.start()
        other.join()
        seen.append((fleet, path.read_bytes(), free[0]))

    results = apply_edits(path, [Edit.add({"id": "newco"}), Edit.set_state("acme", "suspended")], on_written=on_written)

    assert len(seen) == 1
    fleet, text, free = seen[0]
    assert fleet == load_fleet(path) and text == path.read_bytes()
    assert free is False
    assert all(isinstance(r, EditResult) and r.fleet is fleet for r in results)

    # Nothing written, nothing called.
    apply_edits(path, [Edit.set_state("acme", "suspended"), Edit.add({"id": "newco"})], on_written=on_written)
    assert len(seen) == 1


def test_generated_ids_follow_the_models_id_rule() -> None:
    """Ids with the prefix `edge-` name edge proxies: a generator told to use it finds none it may use."""
    fleet = load_fleet(EXAMPLE)
    with pytest.raises(EditError, match="could not generate"):
        generate_id(fleet, prefix="edge")
    assert generate_id(fleet, prefix="t").startswith("t-")
