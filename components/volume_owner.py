"""A tenant's state volume made to belong to its gateway's host uid before the gateway is created.

Every tenant runs as a uid of its own (tenants/host_uid.py), but a fresh volume takes the owner of the
image's directory at its mount point (uid 1000), and the volumes of tenants deployed before per-tenant
uids hold files of uid 1000. A short-lived container of the tenant's own image fixes that: root with
only the capabilities chown needs, no network, a read-only root, the volume as its only writable place.
It re-owns exactly the files that are not the tenant's (none when all are, so an unchanged volume costs
one container run and no write), never follows a symlink, and is removed afterwards; data is never
touched. A gateway still running as another uid is stopped first (it is about to be replaced by one
running as the new uid), so it cannot leave files of its old uid behind.

Like docker_ops, the provider runs in the engine's dynamic-provider host: only the Docker SDK, the
standard library and docker_ops' client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import docker
import pulumi
import requests
from docker.errors import NotFound
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from tenants.host_uid import Ownership

from .docker_ops import DockerDaemon, _changed, _client, _renewed, whole

TIMEOUT_S = 600  # a volume of a few hundred thousand files; an unchanged one takes about a second
# chown of others' files, and reading and creating entries in the tenant's 0700 directories.
CAPABILITIES = ["CHOWN", "DAC_OVERRIDE"]
# $1 the mount point, $2:$3 the owner, $4 the seed directory. Docker copies the image's owner into an
# empty volume at every mount, so an empty one gets the seed first. find -P never follows a symlink
# and chown -h changes a link itself, so nothing outside the volume is ever touched.
SCRIPT = """set -eu
[ -n "$(ls -A "$1")" ] || mkdir -m 0700 "$4"
find "$1" \\( ! -uid "$2" -o ! -gid "$3" \\) -exec chown -h "$2:$3" {} +
"""
KEYS = ("host", "volume", "path", "uid", "gid", "seed", "disk")


def _owner(props: Mapping[str, Any]) -> tuple[int, int]:
    return whole(props["uid"]), whole(props["gid"])


def _stop_if_other_user(client: docker.DockerClient, props: Mapping[str, Any]) -> None:
    try:
        gateway = client.containers.get(props["container"])
    except NotFound:
        return
    uid, gid = _owner(props)
    if gateway.status == "running" and gateway.attrs["Config"].get("User") != f"{uid}:{gid}":
        gateway.stop(timeout=whole(props["stop_timeout_s"]))


def _reown(client: docker.DockerClient, props: Mapping[str, Any]) -> None:
    path, (uid, gid) = str(props["path"]), _owner(props)
    helper = client.containers.create(
        props["image"],
        ["-c", SCRIPT, "sh", path, str(uid), str(gid), str(props["seed"])],
        entrypoint=["sh"],
        user="0:0",
        working_dir="/",
        network_mode="none",
        cap_drop=["ALL"],
        cap_add=CAPABILITIES,
        security_opt=["no-new-privileges:true"],
        read_only=True,
        mem_limit="256m",
        pids_limit=64,
        labels=dict(props["labels"]),
        volumes={props["volume"]: {"bind": path, "mode": "rw"}},
    )
    try:
        helper.start()
        try:
            code = helper.wait(timeout=TIMEOUT_S)["StatusCode"]
        except requests.exceptions.RequestException as exc:
            raise RuntimeError(f"re-owning volume {props['volume']} did not end within {TIMEOUT_S} s") from exc
        if code != 0:
            logs = helper.logs().decode(errors="replace")[-600:]
            raise RuntimeError(f"re-owning volume {props['volume']} failed (exit {code}): {logs}")
    finally:
        helper.remove(force=True)


class VolumeOwnerProvider(ResourceProvider):
    serialize_as_secret_always = False

    def _apply(self, props: Mapping[str, Any]) -> None:
        with _client(props) as client:
            _stop_if_other_user(client, props)
            _reown(client, props)

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._apply(props)
        return CreateResult(str(props["volume"]), outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """The image, labels and stop timeout are the helper's, not the volume's: no diff alone."""
        return DiffResult(changes=bool(_changed(olds, news, KEYS)) or _renewed(olds, news))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if _changed(olds, news, KEYS):
            self._apply(news)
        return UpdateResult(outs=news)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        """The volume is retained, and its files keep their owner."""


class VolumeOwner(Resource, module="openclaw", name="VolumeOwner"):
    """Every file of ``volume`` belongs to ``owner``'s uid and gid, done with a container of ``image``."""

    def __init__(
        self,
        name: str,
        *,
        daemon: DockerDaemon,
        volume: pulumi.Input[str],
        owner: Ownership,
        image: pulumi.Input[str],
        gateway: str,
        stop_timeout_s: int,
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions,
        disk: pulumi.Input[str] | None = None,
    ) -> None:
        # A disk made again (after a lost one) is empty, and Docker copies the image's owner into it.
        props: dict[str, Any] = {
            "disk": disk or "",
            "host": daemon.host,
            **(daemon.tls.props() if daemon.tls else {}),
            "volume": volume,
            "path": owner.path,
            "uid": owner.uid,
            "gid": owner.gid,
            "seed": owner.seed,
            "image": image,
            "container": gateway,
            "stop_timeout_s": stop_timeout_s,
            "labels": {**labels, "openclaw.io/role": "volume-owner"},
        }
        super().__init__(VolumeOwnerProvider(), name, props, opts)
