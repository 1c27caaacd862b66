"""Each tenant's own host uid: derived from its id, refused when two tenants of a target share one,
overridable, and what every backend's gateway runs as."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenantctl.app import app
from tenants import docker_specs as ds
from tenants import k8s_specs as ks
from tenants import openclaw
from tenants.errors import FleetError
from tenants.host_uid import HOST_UID_MAX, HOST_UID_MIN, Ownership, derived_uid, host_uid
from tenants.load import load_fleet, parse_fleet
from tenants.resolved import DockerTenant, KubernetesTenant, resolve

from .fleets import BASE

ROOT = Path(__file__).resolve().parents[2]
# Two ids whose derived uids are equal (found by search; the test below checks it).
COLLIDING = ("tenant-8825", "tenant-23633")


def problems(text: str) -> list[str]:
    with pytest.raises(FleetError) as info:
        parse_fleet(text)
    return [problem.render("tenants.yaml") for problem in info.value.problems]


def test_the_derivation_is_pinned() -> None:
    """Changing it would move every deployed tenant to a new uid (and re-own all of its data)."""
    assert derived_uid("acme") == 2_104_581_449
    assert derived_uid("globex") == 2_027_669_791
    assert derived_uid("acme") == derived_uid("acme")


def test_derived_uids_stay_far_above_users_and_subordinate_ranges_and_below_2_31() -> None:
    uids = [derived_uid(f"tenant-{n}") for n in range(5000)]
    assert min(uids) >= HOST_UID_MIN > 1_879_048_191  # systemd's container range ends there; subuid far below
    assert max(uids) <= HOST_UID_MAX < 0x7FFE0000 < 2**31 - 1  # systemd's foreign-image range, int32
    assert len(set(uids)) > 4990  # spread over the range, not a handful of values


def test_an_override_replaces_the_derived_uid() -> None:
    assert host_uid("acme", None) == derived_uid("acme")
    assert host_uid("acme", 2_000_000_123) == 2_000_000_123


def test_every_tenant_of_the_example_fleet_has_its_own_uid() -> None:
    fleet = load_fleet(ROOT / "tenants.yaml")
    uids = {tenant.id: resolve(fleet, tenant).uid for tenant in fleet.tenants}
    assert len(set(uids.values())) == len(uids)
    assert uids["acme"] == derived_uid("acme")


def test_two_tenants_of_one_target_with_one_uid_are_refused_with_the_fix() -> None:
    a, b = COLLIDING
    assert derived_uid(a) == derived_uid(b)
    text = BASE + f"  - id: {a}\n  - id: {b}\n"
    assert problems(text) == [
        f"tenants.yaml:21: tenants[4].id: tenant {b!r} gets host uid {derived_uid(a)}, as does tenant {a!r} "
        f"(tenants[3]) on target 'local'; set host_uid on one of them to an unused uid from "
        f"{HOST_UID_MIN} to {HOST_UID_MAX}"
    ]
    settled = parse_fleet(BASE + f"  - id: {a}\n  - id: {b}\n    host_uid: 2000000123\n")
    assert resolve(settled, settled.tenant(b)).uid == 2_000_000_123
    assert resolve(settled, settled.tenant(a)).uid == derived_uid(a)


def test_an_override_that_takes_another_tenants_uid_is_refused_at_the_override() -> None:
    text = BASE + f"  - id: newco\n    host_uid: {derived_uid('acme')}\n"
    [problem] = problems(text)
    assert problem.startswith(
        f"tenants.yaml:21: tenants[3].host_uid: tenant 'newco' gets host uid {derived_uid('acme')}"
    )
    assert "as does tenant 'acme' (tenants[0])" in problem


def test_tenants_of_different_targets_may_share_a_uid() -> None:
    a, b = COLLIDING
    other = (
        "  other:\n    type: docker\n    host: ssh://ops@other\n"
        "    capacity: {cpus: 8, memory_gib: 32, networks: 10, storage_gib: 1000}\n"
    )
    text = BASE.replace("defaults:\n", other + "defaults:\n") + f"  - id: {a}\n  - id: {b}\n    target: other\n"
    fleet = parse_fleet(text)
    assert resolve(fleet, fleet.tenant(a)).uid == resolve(fleet, fleet.tenant(b)).uid


def test_offboarded_tenants_still_hold_their_uid() -> None:
    """Their volumes stay, with files of that uid."""
    a, b = COLLIDING
    text = BASE + f"  - id: {a}\n    state: offboarded\n  - id: {b}\n"
    assert len(problems(text)) == 1


def test_a_duplicate_id_is_reported_once_as_a_duplicate() -> None:
    [problem] = problems(BASE + "  - id: acme\n")
    assert "duplicate tenant id 'acme'" in problem


@pytest.mark.parametrize("value", [1000, 65534, 1_999_999_999, 2**31 - 1, "2000000123"])
def test_an_override_outside_the_range_or_not_an_integer_is_refused(value: object) -> None:
    [problem] = problems(BASE + f"  - id: newco\n    host_uid: {json.dumps(value)}\n")
    assert problem.startswith("tenants.yaml:21: tenants[3].host_uid:")


def test_the_docker_gateway_runs_as_its_uid_and_its_volume_is_owned_by_it() -> None:
    fleet = load_fleet(ROOT / "tenants.yaml")
    tenant = resolve(fleet, fleet.tenant("acme"))
    assert isinstance(tenant, DockerTenant)
    uid = derived_uid("acme")
    spec = ds.tenant_spec(tenant)
    assert spec.container is not None and spec.container.user == f"{uid}:{uid}"
    assert spec.volume.owner == Ownership(uid, uid, openclaw.STATE_DIR, openclaw.CACHE_DIR)
    # The seed directory is the gateway's cache, inside the state volume.
    assert openclaw.environment(2048)["XDG_CACHE_HOME"] == spec.volume.owner.seed
    assert spec.volume.owner.seed.startswith(f"{spec.volume.owner.path}/")


def test_render_docker_shows_each_volumes_owner() -> None:
    result = CliRunner().invoke(app, ["render", "docker", "--tenants", str(ROOT / "tenants.yaml")])
    assert result.exit_code == 0, result.output
    tenants = {t["tenant_id"]: t for t in json.loads(result.output)["tenants"]}
    assert tenants["globex"]["volume"]["owner"]["uid"] == derived_uid("globex")
    assert tenants["globex"]["container"]["user"] == f"{derived_uid('globex')}:{derived_uid('globex')}"


def test_kubernetes_pods_run_as_the_tenants_uid_and_group() -> None:
    fleet = load_fleet(ROOT / "tenants.yaml")
    [tenant] = [t for t in (resolve(fleet, x) for x in fleet.tenants) if isinstance(t, KubernetesTenant)][:1]
    uid = derived_uid(tenant.id)
    pod = ks.deployment(tenant)["spec"]["template"]["spec"]
    assert {k: pod["securityContext"][k] for k in ("runAsUser", "runAsGroup", "fsGroup")} == dict.fromkeys(
        ("runAsUser", "runAsGroup", "fsGroup"), uid
    )
    assert pod["containers"][0]["securityContext"]["runAsUser"] == uid
