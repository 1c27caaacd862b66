"""tenants.audit: one synced JSON line per entry, owner-only, never interleaved, read back whole."""

from __future__ import annotations

import getpass
import json
import multiprocessing
import os
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tenants import audit

WRITERS, ENTRIES = 4, 50
LONG = "x" * 20_000  # far beyond a pipe's atomic size: only O_APPEND keeps lines whole


def test_append_writes_one_line_with_when_and_who(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER", "alice")
    log = tmp_path / "audit.jsonl"
    written = audit.append(log, {"action": "purge", "tenant": "acme", "targets": ["host-a"], "kept_backups": False})
    assert list(written) == ["at", "operator", "action", "tenant", "targets", "kept_backups"]
    assert written["operator"] == "alice"
    at = datetime.fromisoformat(written["at"].replace("Z", "+00:00"))
    assert at.utcoffset() == timedelta(0)
    assert written["at"].endswith("Z")
    text = log.read_text()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert json.loads(text) == written
    assert audit.read(log) == [written]


def test_entries_are_appended_in_order(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for n in range(3):
        audit.append(log, {"n": n})
    assert [e["n"] for e in audit.read(log)] == [0, 1, 2]


def test_the_file_is_created_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    old = os.umask(0)
    try:
        audit.append(log, {"n": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text("")
    log.chmod(0o640)
    audit.append(log, {"n": 1})
    assert stat.S_IMODE(log.stat().st_mode) == 0o640


def test_the_operator_falls_back_to_the_login_name_then_the_uid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "bob")
    assert audit.operator() == "bob"

    def no_user() -> str:
        raise OSError("no passwd entry")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert audit.operator() == f"uid {os.getuid()}"


def test_an_entry_may_name_its_operator_but_not_its_time(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    assert audit.append(log, {"operator": "ci-bot"})["operator"] == "ci-bot"
    with pytest.raises(ValueError, match="may not set at"):
        audit.append(log, {"at": "yesterday"})
    assert len(audit.read(log)) == 1


@pytest.mark.parametrize("value", [object(), float("nan"), {1, 2}])
def test_an_entry_that_is_not_json_writes_nothing(tmp_path: Path, value: object) -> None:
    log = tmp_path / "audit.jsonl"
    with pytest.raises(ValueError, match="plain JSON"):
        audit.append(log, {"bad": value})
    assert not log.exists()


def test_read_of_no_log_is_empty(tmp_path: Path) -> None:
    assert audit.read(tmp_path / "missing.jsonl") == []


def test_read_skips_a_last_line_cut_short(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    audit.append(log, {"n": 1})
    with log.open("a") as handle:
        handle.write('{"at": "2026-')
    assert [e["n"] for e in audit.read(log)] == [1]
    audit.append(log, {"n": 2})  # the torn line is now followed by a newline and more: a corrupt log
    with pytest.raises(ValueError, match=rf"{log}:2: not a JSON audit entry"):
        audit.read(log)


def test_read_refuses_a_line_that_is_not_an_object(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_text('{"n": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match=rf"{log}:2: an audit entry must be a JSON object"):
        audit.read(log)


def _writer(path: str, writer: int) -> None:
    for n in range(ENTRIES):
        audit.append(Path(path), {"writer": writer, "n": n, "pad": LONG})


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(log), w)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    entries = audit.read(log)
    assert len(entries) == WRITERS * ENTRIES
    for w in range(WRITERS):
        assert [e["n"] for e in entries if e["writer"] == w] == list(range(ENTRIES))
    assert all(e["pad"] == LONG for e in entries)
