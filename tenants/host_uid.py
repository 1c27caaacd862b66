"""Each tenant's own host identity: the uid and gid its gateway runs as.

Docker 20.10 maps container users one to one onto the host (userns-remap is one range for the whole
daemon), and the kernel counts some limits per uid (inotify instances, ``fs.inotify.max_user_instances``),
so tenants sharing one uid share those limits, and an escaped gateway would be the same host user as
every other tenant's. Every tenant therefore gets a uid of its own, derived from its id so it never
changes and needs no state: a hash into a range far above system users, regular users (1000 to 60000),
systemd's dynamic and container ranges (up to 0x6FFFFFFF) and the usual subordinate-id ranges of
``/etc/subuid``, and below systemd's foreign-image range (0x7FFE0000) and 2^31 (tools that read ids as
signed 32-bit numbers). The rare collision of two tenants of one target is refused by validation;
``host_uid`` on one of them settles it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

HOST_UID_MIN = 2_000_000_000
HOST_UID_MAX = 2_146_999_999
_SPAN = HOST_UID_MAX - HOST_UID_MIN + 1
_DOMAIN = b"openclaw-tenants/host-uid/v1\0"  # a fixed salt, so the derivation can never drift


def derived_uid(tenant_id: str) -> int:
    """The uid a tenant gets without an override: stable for its id, inside the range."""
    digest = hashlib.sha256(_DOMAIN + tenant_id.encode()).digest()
    return HOST_UID_MIN + int.from_bytes(digest[:8], "big") % _SPAN


def host_uid(tenant_id: str, override: int | None) -> int:
    """The tenant's uid (and gid): its ``host_uid`` when set, else the one derived from its id."""
    return derived_uid(tenant_id) if override is None else override


@dataclass(frozen=True)
class Ownership:
    """Who a state volume's files must belong to before its gateway starts, and where it is mounted.

    A fresh Docker volume takes the owner of the image's directory at its mount point (uid 1000 in
    the gateway image), and takes it again at every mount while the volume is empty: ``seed``, a
    directory the gateway uses anyway, is created in an empty volume so the tenant's owner stays.
    """

    uid: int
    gid: int
    path: str
    seed: str
