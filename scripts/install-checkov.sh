#!/usr/bin/env bash
# Install checkov, pinned, in its own virtualenv at .tools/checkov (its dependency pins clash with
# the project's, so it never goes into .venv). Used by tests/unit/test_k8s_manifests.py.
#
# - exits 0 at once when .tools/checkov already holds exactly CHECKOV_VERSION;
# - otherwise (absent, another version, or a broken earlier attempt) recreates the virtualenv and
#   installs checkov==CHECKOV_VERSION, bounded by INSTALL_TIMEOUT_SECONDS (default 900).
#
# Quiet on success; on failure prints the end of the install log to stderr and exits 1.
# Safe to run repeatedly and concurrently with itself (make -j, several terminals).
set -euo pipefail

CHECKOV_VERSION=3.3.30
PYTHON="${PYTHON:-python3}"
TIMEOUT="${INSTALL_TIMEOUT_SECONDS:-900}"

cd "$(dirname "$0")/.."
TOOLS=.tools
VENV="$TOOLS/checkov"
STAMP="$VENV/.installed-checkov-$CHECKOV_VERSION"
LOG="$TOOLS/install-checkov.log"

installed() {
    [ -f "$STAMP" ] && [ -x "$VENV/bin/checkov" ]
}

fail() {
    printf 'install-checkov: %s\n' "$*" >&2
    if [ -s "$LOG" ]; then
        tail -n 20 "$LOG" >&2
    fi
    exit 1
}

if installed; then
    exit 0
fi

mkdir -p "$TOOLS"
exec 9>>"$TOOLS/install-checkov.lock" || fail "cannot open lock file $TOOLS/install-checkov.lock"
flock -w "$((TIMEOUT + 120))" 9 || fail "timed out waiting for another install to finish"
if installed; then
    exit 0
fi

: >"$LOG"
rm -rf "$VENV"
timeout 120 "$PYTHON" -m venv "$VENV" >>"$LOG" 2>&1 || fail "could not create a virtualenv with $PYTHON"
if ! timeout "$TIMEOUT" "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "checkov==$CHECKOV_VERSION" >>"$LOG" 2>&1; then
    rm -rf "$VENV"
    fail "pip install checkov==$CHECKOV_VERSION failed or timed out, see $LOG"
fi
version="$(timeout 120 "$VENV/bin/checkov" --version 2>>"$LOG")" || fail "checkov does not run, see $LOG"
[ "$version" = "$CHECKOV_VERSION" ] || fail "expected checkov $CHECKOV_VERSION, got $version"
touch "$STAMP"
