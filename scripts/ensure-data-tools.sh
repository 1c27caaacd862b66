#!/usr/bin/env bash
# Make sure the host has Debian's restic (the backup job's and the benchmarks' restic, run outside the
# data-agent image) and openssh-server (an SFTP backup repository on loopback, for the tests). Starts
# nothing: the tests run their own sshd on a port of their own.
#
# Quiet on success; on failure prints one line to stderr and exits 1. Safe to run repeatedly.
set -euo pipefail

APT_LOG=/var/log/openclaw-ensure-data-tools-apt.log
PACKAGES=(restic openssh-server)

fail() {
    printf 'data tools unavailable: %s\n' "$*" >&2
    exit 1
}

have_tools() {
    command -v restic >/dev/null && [ -x /usr/sbin/sshd ]
}

# shellcheck source=scripts/as-root.sh
source "$(dirname "${BASH_SOURCE[0]}")/as-root.sh"

if have_tools; then
    exit 0
fi

LOCK="${TMPDIR:-/tmp}/openclaw-ensure-data-tools.lock"
exec 9>>"$LOCK" || fail "cannot open lock file $LOCK"
flock -w 1200 9 || fail "timed out waiting for lock $LOCK"
if have_tools; then
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# The package's own sshd is not wanted running: policy-rc.d keeps it from starting while it installs.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 0755 /usr/sbin/policy-rc.d
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
fi
if ! as_root timeout 900 apt-get install -y --no-install-recommends "${PACKAGES[@]}" >>"$APT_LOG" 2>&1; then
    as_root timeout 300 apt-get update >>"$APT_LOG" 2>&1 || fail "apt-get update failed, see $APT_LOG"
    as_root timeout 900 apt-get install -y --no-install-recommends "${PACKAGES[@]}" >>"$APT_LOG" 2>&1 ||
        fail "apt-get install ${PACKAGES[*]} failed, see $APT_LOG"
fi
have_tools || fail "restic or sshd not found after installing ${PACKAGES[*]}"
