# Sourced by the ensure-*.sh scripts: run a command as root, directly or through passwordless sudo.
# The sourcing script defines fail() (its own one-line error and exit).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        fail "need root (or passwordless sudo) to $*"
    fi
}
