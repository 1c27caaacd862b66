"""What is valid but dangerous in a fleet, said wherever the fleet is checked or deployed.

`direct-unfiltered` egress: a tenant's users run commands in its gateway, and on an unfiltered
bridge they reach cloud metadata (instance credentials), every host service and the provider's
private network. Tenants on one site (tenants/cookie_sites.py): each one's pages can set cookies
that reach the others. A fleet without backups loses a tenant's data with its disk; a Docker target
without a storage capacity can promise its tenants more disk than the host has.
"""

from __future__ import annotations

from .cookie_sites import cookie_warnings
from .model import UNFILTERED, DockerTarget, Fleet


def fleet_warnings(fleet: Fleet) -> list[str]:
    """One line per target or plan that opts out of egress filtering, naming the tenants it affects, and
    per site that several tenants share."""
    warnings: list[str] = []
    for name, target in fleet.targets.items():
        if isinstance(target, DockerTarget) and target.egress.mode == UNFILTERED:
            affected = [t.id for t in fleet.tenants if t.target == name and fleet.plans[t.plan].egress is None]
            warnings.append(_line(f"target {name!r}", affected))
    for name, plan in fleet.plans.items():
        if plan.egress == UNFILTERED:
            warnings.append(_line(f"plan {name!r}", [t.id for t in fleet.tenants if t.plan == name]))
    return warnings + cookie_warnings(fleet) + data_warnings(fleet)


def data_warnings(fleet: Fleet) -> list[str]:
    """No repository for backups; Docker targets whose disks are not counted against the host's space;
    tenants on unbounded volumes."""
    warnings: list[str] = []
    if fleet.backups is None and fleet.tenants:
        warnings.append(
            "no backups: the fleet has no `backups` repository, so a lost disk or host loses its tenants' data; "
            "see README, Backups and restores"
        )
    for name, target in fleet.targets.items():
        if not isinstance(target, DockerTarget):
            if fleet.backups is not None and not fleet.backups.reaches_pods and _on(fleet, name):
                warnings.append(
                    f"target {name!r}: its tenants are not backed up: the backup repository "
                    f"{fleet.backups.repository} is a path on the Docker hosts, which pods cannot reach; use an "
                    "sftp:// or s3: repository"
                )
            continue
        if target.storage.mode == "disk" and target.capacity.storage_gib is None:
            warnings.append(
                f"target {name!r} has no capacity.storage_gib: the disks of its tenants are not checked against "
                f"the space under {target.storage.root}"
            )
        if target.storage.mode == "volume":
            warnings.append(
                f"target {name!r} has storage mode volume: its tenants' data is not bounded, and one tenant can "
                "fill the daemon's data root for every other; use mode disk"
            )
    return warnings


def _line(what: str, tenants: list[str]) -> str:
    shown = ", ".join(tenants[:5]) + (f" and {len(tenants) - 5} more" if len(tenants) > 5 else "")
    return (
        f"{what} has egress {UNFILTERED}: its tenants ({shown or 'none yet'}) can reach cloud metadata "
        "(169.254.169.254), the host's services and private networks; use 'internet' or 'models'"
    )


def _on(fleet: Fleet, target_name: str) -> list[str]:
    return [t.id for t in fleet.tenants if t.target == target_name]
