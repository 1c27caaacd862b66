#!/usr/bin/env bash
# Make sure a local Docker engine is answering, with gVisor registered, so
# tenant gateways can be deployed and the end-to-end tests can run.
#
# - exits 0 at once when `docker info` already works and lists the runtime
#   `runsc` at the runsc built from scripts/gvisor/ (its stamp matching);
# - otherwise builds gVisor's runsc from the Go module proxy at the version
#   pinned in scripts/gvisor/go.mod (about 2.5 minutes with empty caches)
#   into /usr/local/lib/openclaw-tenants/runsc, registers it in
#   /etc/docker/daemon.json as the runtime `runsc` (merged into an existing
#   file, every other key kept; a new file also gets a small-subnet address
#   pool so one host can hold thousands of per-tenant networks), reloads a
#   running dockerd with SIGHUP (a reload: running containers keep running),
#   installs Debian's docker.io when dockerd is missing, starts dockerd in
#   the background and waits (at most DOCKERD_WAIT_SECONDS, default 60) until
#   the engine answers.
#
# Why not Debian 12's runsc (2022-12-19): the gateway does not start under it
# (no openat2: "openat2 beneath root: Function not implemented"; the image's
# tini is refused PR_SET_CHILD_SUBREAPER), and it takes the existence of
# /proc/sys/net/core/rmem_default as proof of running in the host's root
# network namespace, which on recent kernels (6.18 here) is true of every
# namespace, so with its own network stack every container fails ("cannot run
# with network enabled in root network namespace"; --network=host would work
# around that by handing the sandbox's networking to the host kernel). The
# pinned runsc checks dev_weight, which only the root namespace has, so each
# sandbox keeps gVisor's own network stack inside the container's namespace.
#
# Quiet on success; on failure prints one line to stderr and exits 1.
# Safe to run repeatedly, concurrently with itself, and from make.
set -euo pipefail

LOG=/var/log/openclaw-dockerd.log
APT_LOG=/var/log/openclaw-ensure-docker-apt.log
DAEMON_JSON=/etc/docker/daemon.json
GVISOR_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/gvisor"
RUNSC_DIR=/usr/local/lib/openclaw-tenants
RUNSC=$RUNSC_DIR/runsc
RUNSC_STAMP=$RUNSC_DIR/runsc.stamp
RUNSC_LOG="${TMPDIR:-/tmp}/openclaw-runsc-build.log"
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

fail() {
    printf 'docker engine unavailable: %s\n' "$*" >&2
    exit 1
}

engine_ok() {
    timeout 10 docker info >/dev/null 2>&1
}

# Writes the runsc entry into daemon.json (argv: FILE RUNSC_PATH), creating FILE
# if absent; prints "changed" when it wrote. Other keys and other runtimeArgs
# of an existing entry are kept; the --network=host of a Debian runsc setup and
# its `runsc-hostnet` entry go.
# shellcheck disable=SC2016  # Python, not shell
RUNSC_ENTRY='
import json, os, sys, tempfile
path, runsc = sys.argv[1:3]
try:
    with open(path) as f:
        conf = json.load(f)
except FileNotFoundError:
    conf = {"default-address-pools": [{"base": "172.30.0.0/16", "size": 28}]}
runtimes = conf.setdefault("runtimes", {})
old = runtimes.get("runsc") or {}
args = [a for a in old.get("runtimeArgs", []) if a != "--network=host"]
new = {k: v for k, v in old.items() if k != "runtimeArgs"} | {"path": runsc}
if args:
    new["runtimeArgs"] = args
if old == new and "runsc-hostnet" not in runtimes:
    sys.exit(0)
runtimes.pop("runsc-hostnet", None)
runtimes["runsc"] = new
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".daemon.json.")
with os.fdopen(fd, "w") as f:
    json.dump(conf, f, indent=2)
    f.write("\n")
os.chmod(tmp, 0o644)
os.replace(tmp, path)
print("changed")
'

# The running engine lists runsc at $RUNSC.
# shellcheck disable=SC2016  # Python, not shell
runsc_offered() {
    timeout 10 docker info --format '{{json .Runtimes}}' 2>/dev/null | python3 -c '
import json, sys
entry = json.load(sys.stdin).get("runsc") or {}
sys.exit(0 if entry.get("path") == sys.argv[1] and "--network=host" not in (entry.get("runtimeArgs") or []) else 1)
' "$RUNSC" 2>/dev/null
}

# The stamp of a runsc build: a hash of everything it reads from this checkout.
runsc_key() {
    cat "$GVISOR_SRC/go.mod" "$GVISOR_SRC/go.sum" "$GVISOR_SRC/tools.go" | sha256sum | cut -d' ' -f1
}

runsc_fresh() {
    [ -x "$RUNSC" ] && [ "$(cat "$RUNSC_STAMP" 2>/dev/null)" = "$(runsc_key)" ]
}

dockerd_running() {
    if command -v pgrep >/dev/null 2>&1; then
        pgrep -x dockerd >/dev/null 2>&1
    else
        [ -r /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null
    fi
}

# shellcheck source=scripts/as-root.sh
source "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

# apt-get install, running `apt-get update` first only when the package
# cannot be installed from the current lists.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if as_root timeout 900 apt-get install -y --no-install-recommends "$@" >>"$APT_LOG" 2>&1; then
        return 0
    fi
    as_root timeout 300 apt-get update >>"$APT_LOG" 2>&1 ||
        fail "apt-get update failed, see $APT_LOG"
    as_root timeout 900 apt-get install -y --no-install-recommends "$@" >>"$APT_LOG" 2>&1 ||
        fail "apt-get install $* failed, see $APT_LOG"
}

build_runsc() {
    command -v go >/dev/null 2>&1 || fail "go not found: it builds gVisor's runsc from the Go module proxy"
    local version out
    version="$(awk '$1 == "require" && $2 == "gvisor.dev/gvisor" {print $3}' "$GVISOR_SRC/go.mod")"
    out="$(mktemp -d)"
    GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0 \
        timeout 1800 go build -C "$GVISOR_SRC" -p 2 -trimpath \
        -ldflags "-X gvisor.dev/gvisor/runsc/version.version=$version" \
        -o "$out/runsc" gvisor.dev/gvisor/runsc >>"$RUNSC_LOG" 2>&1 ||
        { rm -rf "$out"; fail "building gVisor's runsc failed, see $RUNSC_LOG"; }
    as_root install -d -m 0755 "$RUNSC_DIR"
    # A new file, then a rename: sandboxes running the old binary keep it.
    as_root install -m 0755 "$out/runsc" "$RUNSC.new"
    as_root mv -f "$RUNSC.new" "$RUNSC"
    rm -rf "$out"
    runsc_key | as_root tee "$RUNSC_STAMP" >/dev/null
}

# SIGHUP makes dockerd re-read daemon.json's runtimes; then wait until it lists runsc.
reload_dockerd() {
    local pid
    pid="$(cat /var/run/docker.pid 2>/dev/null || pgrep -o -x dockerd 2>/dev/null || true)"
    [ -n "$pid" ] || return 0 # none running: it reads the file when it starts
    as_root kill -HUP "$pid" || fail "could not reload dockerd (pid $pid)"
    local deadline=$((SECONDS + WAIT_SECONDS))
    until runsc_offered; do
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "dockerd did not list the runtime runsc within ${WAIT_SECONDS}s of SIGHUP, see $LOG"
        sleep 0.5
    done
}

# nft: the egress tests read a host's (or a test namespace's) nftables tables with it.
ready() {
    command -v docker >/dev/null 2>&1 && command -v nft >/dev/null 2>&1 && runsc_fresh && runsc_offered
}

if ready; then
    exit 0
fi

# Serialise concurrent runs (parallel make jobs, several terminals).
LOCK="${TMPDIR:-/tmp}/openclaw-ensure-docker.lock"
exec 9>>"$LOCK" || fail "cannot open lock file $LOCK"
# Long enough for another run's apt-get (900 s) and runsc build (1800 s).
flock -w $((WAIT_SECONDS + 2760)) 9 || fail "timed out waiting for lock $LOCK"
if ready; then
    exit 0
fi

if ! runsc_fresh; then
    build_runsc
fi
command -v nft >/dev/null 2>&1 || apt_install nftables

# daemon.json before docker.io, so an engine started by the package's own
# service scripts already uses its address pools and runtimes.
as_root mkdir -p "$(dirname "$DAEMON_JSON")"
changed="$(as_root python3 -c "$RUNSC_ENTRY" "$DAEMON_JSON" "$RUNSC")" ||
    fail "could not register runsc in $DAEMON_JSON"

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io
    hash -r
    command -v dockerd >/dev/null 2>&1 || fail "dockerd not found after installing docker.io"
fi

if engine_ok; then
    if [ -n "$changed" ] || ! runsc_offered; then
        reload_dockerd
    fi
    exit 0
fi

# Start dockerd unless one is already running (e.g. started by the package's
# service scripts, or by hand) and just slow.
if ! dockerd_running; then
    # setsid + all fds redirected: the daemon must outlive the caller and
    # must not hold the caller's stdout/stderr pipes open (make, CI logs).
    # shellcheck disable=SC2016  # expanded by the inner shell
    as_root env LOG="$LOG" sh -c \
        'nohup setsid dockerd </dev/null >>"$LOG" 2>&1 9>&- &' ||
        fail "could not launch dockerd, see $LOG"
fi

deadline=$((SECONDS + WAIT_SECONDS))
while [ "$SECONDS" -lt "$deadline" ]; do
    if engine_ok; then
        exit 0
    fi
    if ! dockerd_running; then
        # Give a concurrent starter a moment, then give up.
        sleep 1
        dockerd_running || engine_ok ||
            fail "dockerd exited during startup, see $LOG"
    fi
    sleep 0.5
done
engine_ok && exit 0
fail "dockerd did not answer within ${WAIT_SECONDS}s, see $LOG"
