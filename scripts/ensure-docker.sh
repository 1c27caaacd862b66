#!/usr/bin/env bash
# Make sure a local Docker engine is answering, so tenant gateways can be
# deployed and the end-to-end tests can run.
#
# - exits 0 at once when `docker info` already works;
# - otherwise installs Debian's docker.io when dockerd is missing, writes
#   /etc/docker/daemon.json (only if absent) with a small-subnet address pool
#   so one host can hold thousands of per-tenant networks, starts dockerd in
#   the background and waits (at most DOCKERD_WAIT_SECONDS, default 60) until
#   the engine answers.
#
# Quiet on success; on failure prints one line to stderr and exits 1.
# Safe to run repeatedly, concurrently with itself, and from make.
set -euo pipefail

LOG=/var/log/openclaw-dockerd.log
APT_LOG=/var/log/openclaw-ensure-docker-apt.log
DAEMON_JSON=/etc/docker/daemon.json
WAIT_SECONDS="${DOCKERD_WAIT_SECONDS:-60}"

fail() {
    printf 'docker engine unavailable: %s\n' "$*" >&2
    exit 1
}

engine_ok() {
    timeout 10 docker info >/dev/null 2>&1
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

if command -v docker >/dev/null 2>&1 && engine_ok; then
    exit 0
fi

# Serialise concurrent runs (parallel make jobs, several terminals).
LOCK="${TMPDIR:-/tmp}/openclaw-ensure-docker.lock"
exec 9>>"$LOCK" || fail "cannot open lock file $LOCK"
flock -w $((WAIT_SECONDS + 960)) 9 || fail "timed out waiting for lock $LOCK"
if command -v docker >/dev/null 2>&1 && engine_ok; then
    exit 0
fi

# Address pools first, so an engine started by the package's own service
# scripts already uses them.
if [ ! -e "$DAEMON_JSON" ]; then
    as_root mkdir -p "$(dirname "$DAEMON_JSON")"
    printf '%s\n' '{' \
        '  "default-address-pools": [{"base": "172.30.0.0/16", "size": 28}]' \
        '}' | as_root tee "$DAEMON_JSON" >/dev/null
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io
    hash -r
    command -v dockerd >/dev/null 2>&1 || fail "dockerd not found after installing docker.io"
fi

if engine_ok; then
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
