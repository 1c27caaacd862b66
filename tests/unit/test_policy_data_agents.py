"""The policy pack's grants to the two data agents: exactly what each needs, to it alone."""

from __future__ import annotations

from typing import Any

from harness.paths import ROOT
from harness.program_run import run_program
from tenants import labels
from tests.unit.test_policy import CONTAINER, SECRETS, rules, tenant_container

STORAGE_CAPS = ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_CHROOT", "CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"]
CHECKS = (rules.run_as_non_root, rules.drop_all_capabilities, rules.no_privileged_mode, rules.no_host_access)


def test_the_pack_spells_the_programs_label_names() -> None:
    # The pack runs in its own environment without the program's packages: its copies of the names it
    # grants by must match the labels the program puts on its pieces, or a grant reaches nothing.
    assert (rules.TENANT_LABEL, rules.COMPONENT_LABEL) == (labels.TENANT_LABEL, labels.COMPONENT_LABEL)
    assert rules.EDGE_COMPONENT == labels.EDGE_COMPONENT
    assert set(rules.PLATFORM_GRANTS) == {
        labels.EGRESS_FILTER_COMPONENT,
        labels.STORAGE_COMPONENT,
        labels.BACKUP_COMPONENT,
    }


def _labels(component: str) -> list[dict[str, str]]:
    return [
        {"label": "openclaw.io/component", "value": component},
        {"label": "openclaw.io/target", "value": "local"},
    ]


def storage_agent(**changes: Any) -> dict[str, Any]:
    props = tenant_container(
        name="openclaw-storage-local",
        image="openclaw-local/data-agent:0.14.0-1",
        user="0:0",
        capabilities={"drops": ["ALL"], "adds": STORAGE_CAPS},
        securityOpts=["apparmor=unconfined", "label=disable", "no-new-privileges:true"],
        deviceCgroupRules=["b 7:* rwm", "c 10:237 rwm"],
        pidMode="host",
        networkMode="none",
        volumes=[
            {
                "hostPath": "/var/lib/openclaw-tenants/disks/local",
                "containerPath": "/var/lib/openclaw-tenants/disks/local",
            }
        ],
        networksAdvanced=[],
        labels=_labels("storage"),
    )
    return {**props, **changes}


def backup_agent(**changes: Any) -> dict[str, Any]:
    props = tenant_container(
        name="openclaw-backup-local",
        image="openclaw-local/data-agent:0.14.0-1",
        user="0:0",
        networkMode="host",
        volumes=[
            {"volumeName": "openclaw-backup-local-state", "containerPath": "/var/lib/openclaw-backup"},
            {"hostPath": "/var/run/docker.sock", "containerPath": "/var/run/docker.sock"},
            {"hostPath": "/srv/backups", "containerPath": "/srv/backups"},
        ],
        networksAdvanced=[],
        labels=_labels("backup"),
    )
    return {**props, **changes}


def violations(props: dict[str, Any]) -> list[str]:
    return [m for check in CHECKS for m in check(CONTAINER, props)]


def test_each_agent_passes_with_exactly_its_grants() -> None:
    assert violations(storage_agent()) == []
    assert violations(backup_agent()) == []


def test_a_tenant_with_the_agents_powers_is_refused() -> None:
    tenant = tenant_container(
        user="0:0",
        capabilities={"drops": ["ALL"], "adds": ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]},
        securityOpts=["no-new-privileges:true", "apparmor=unconfined", "label=disable"],
        deviceCgroupRules=["b 7:* rwm"],
        pidMode="host",
        volumes=[{"hostPath": "/var/run/docker.sock", "containerPath": "/var/run/docker.sock"}],
    )
    assert violations(tenant) == [
        "tenant 'acme' container runs as root (user '0:0')",
        "tenant 'acme' container adds capabilities back: CAP_SYS_ADMIN, CAP_SYS_PTRACE",
        "tenant 'acme' container shares a namespace: pidMode is 'host'",
        "tenant 'acme' container mounts the host path '/var/run/docker.sock'",
        "tenant 'acme' container may use host devices: deviceCgroupRules b 7:* rwm",
        "tenant 'acme' container runs unconfined: apparmor=unconfined, label=disable",
    ]


def test_a_tenant_label_takes_every_grant_away() -> None:
    labelled = storage_agent(labels=[*_labels("storage"), {"label": "openclaw.io/tenant", "value": "acme"}])
    assert f"tenant 'acme' container adds capabilities back: {', '.join(STORAGE_CAPS)}" in violations(labelled)


def test_the_agents_get_nothing_beyond_their_grants() -> None:
    # No agent is privileged; the backup agent has no capability and shares no process namespace; the disk
    # agent has no network and no device beyond the loop devices.
    assert violations(storage_agent(privileged=True)) == ["storage agent container runs privileged"]
    assert violations(backup_agent(pidMode="host", capabilities={"drops": ["ALL"], "adds": ["SYS_ADMIN"]})) == [
        "backup agent container adds capabilities back: SYS_ADMIN",
        "backup agent container shares a namespace: pidMode is 'host'",
    ]
    assert violations(storage_agent(networkMode="host", deviceCgroupRules=["a *:* rwm"])) == [
        "storage agent container shares a namespace: networkMode is 'host'",
        "storage agent container may use host devices: deviceCgroupRules a *:* rwm",
    ]
    # One host path for the disk agent (its disk root), two for the backup agent (socket, repository).
    extra = {"hostPath": "/etc", "containerPath": "/host-etc"}
    assert "storage agent container mounts the host path '/etc'" in violations(
        storage_agent(volumes=[*storage_agent()["volumes"], extra])
    )
    assert "backup agent container mounts the host path '/etc'" in violations(
        backup_agent(volumes=[*backup_agent()["volumes"], extra])
    )


def test_the_programs_agents_are_what_the_grants_describe() -> None:
    run = run_program(ROOT / "tenants.yaml", secrets=SECRETS)
    storage = run.named("storage-local-agent").inputs
    backup = run.named("backup-local-agent").inputs
    assert (storage["user"], storage.get("privileged"), storage["pidMode"], storage["networkMode"]) == (
        "0:0",
        None,
        "host",
        "none",
    )
    assert storage["capabilities"] == {"drops": ["ALL"], "adds": STORAGE_CAPS}
    assert storage["deviceCgroupRules"] == ["b 7:* rwm", "c 10:237 rwm"]
    assert [v["hostPath"] for v in storage["volumes"]] == ["/var/lib/openclaw-tenants/disks/local"]
    assert (backup["user"], backup.get("privileged"), backup["networkMode"]) == ("0:0", None, "host")
    assert backup["capabilities"] == {"drops": ["ALL"]}
    assert sorted(v["hostPath"] for v in backup["volumes"] if v.get("hostPath")) == [
        "/var/lib/openclaw-tenants/backups",
        "/var/run/docker.sock",
    ]
    for props in (storage, backup):
        assert violations(props) == [], props["name"]
