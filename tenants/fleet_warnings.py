"""What is valid but dangerous in a fleet, said wherever the fleet is checked or deployed.

`direct-unfiltered` egress: a tenant's users run commands in its gateway, and on an unfiltered
bridge they reach cloud metadata (instance credentials), every host service and the provider's
private network. Tenants on one site (tenants/cookie_sites.py): each one's pages can set cookies
that reach the others.
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
    return warnings + cookie_warnings(fleet)


def _line(what: str, tenants: list[str]) -> str:
    shown = ", ".join(tenants[:5]) + (f" and {len(tenants) - 5} more" if len(tenants) > 5 else "")
    return (
        f"{what} has egress {UNFILTERED}: its tenants ({shown or 'none yet'}) can reach cloud metadata "
        "(169.254.169.254), the host's services and private networks; use 'internet' or 'models'"
    )
