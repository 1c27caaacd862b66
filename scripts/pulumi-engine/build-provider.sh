#!/usr/bin/env bash
# Build a bridged Pulumi resource provider plugin from Go modules on the module proxy.
#
#   build-provider.sh <provider-dir> <output-binary> <plugin-version>
#
# <provider-dir> is a Go module (go.mod/go.sum pin every Go module version) with a provider.env,
# cmd/pulumi-tfgen-NAME and cmd/pulumi-resource-NAME. The Terraform provider keeps its constructor
# in internal/, so this script copies that module (TF_MODULE@TF_VERSION) out of the module cache
# into the build directory, adds the shim package to the copy, and builds a copy of <provider-dir>
# whose go.mod replaces TF_MODULE_PATH with ../upstream:
#
#   $PULUMI_ENGINE_BUILD/NAME/upstream   the Terraform provider module + shim
#   $PULUMI_ENGINE_BUILD/NAME/src        copy of <provider-dir>; cmd/pulumi-resource-NAME/schema.json
#   $PULUMI_ENGINE_BUILD/NAME/schema     tfgen output (schema.json, bridge-metadata.json)
#   $PULUMI_ENGINE_BUILD/NAME/bin        pulumi-tfgen-NAME
#
# Steps: copy+shim, build tfgen, generate the schema, embed it (version stamped), build the plugin
# with -ldflags -X VERSION_VAR=<plugin-version>.
#
# Environment:
#   PULUMI_ENGINE_BUILD   build directory (default: <repo>/.tools/pulumi/build)
#   PULUMI_ENGINE_TIDY=1  run `go mod tidy` on the build copy and write go.mod/go.sum back to
#                         <provider-dir> (after changing a version), then build as usual
#   GO_BUILD_P            parallel compile jobs (default 2)
#   GO_BUILD_TIMEOUT      seconds allowed to each go command (default 3600)
#   TFGEN_TIMEOUT         seconds allowed to schema generation (default 600)
set -euo pipefail

usage() {
	echo "usage: $0 <provider-dir> <output-binary> <plugin-version>" >&2
	exit 2
}
[[ $# -eq 3 ]] || usage

log() { printf '[build-provider %s] %s\n' "${PROVIDER_NAME:-?}" "$*"; }
die() {
	printf '[build-provider %s] error: %s\n' "${PROVIDER_NAME:-?}" "$*" >&2
	exit 1
}

provider_dir=$(cd "$1" && pwd) || die "no provider directory: $1"
output=$2
plugin_version=$3
[[ $plugin_version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] ||
	die "plugin version must be semver without a leading v: $plugin_version"
case $output in
/*) ;;
*) output="$PWD/$output" ;;
esac

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)
build_root=${PULUMI_ENGINE_BUILD:-$repo_root/.tools/pulumi/build}
jobs=${GO_BUILD_P:-2}
go_timeout=${GO_BUILD_TIMEOUT:-3600}
tfgen_timeout=${TFGEN_TIMEOUT:-600}

command -v go >/dev/null || die "go is not on PATH"

[[ -f $provider_dir/provider.env ]] || die "missing $provider_dir/provider.env"
PROVIDER_NAME='' TF_MODULE='' TF_VERSION='' TF_SUM='' TF_MODULE_PATH='' SHIM_SRC='' SHIM_DEST=''
GO_TAGS='' VERSION_VAR=''
# shellcheck source=/dev/null
source "$provider_dir/provider.env"
for var in PROVIDER_NAME TF_MODULE TF_VERSION TF_SUM TF_MODULE_PATH SHIM_SRC SHIM_DEST VERSION_VAR; do
	[[ -n ${!var} ]] || die "provider.env does not set $var"
done
name=$PROVIDER_NAME
[[ $name =~ ^[a-z][a-z0-9-]*$ ]] || die "PROVIDER_NAME must be a plain package name: $name"
[[ -d $provider_dir/cmd/pulumi-resource-$name && -d $provider_dir/cmd/pulumi-tfgen-$name ]] ||
	die "expected cmd/pulumi-resource-$name and cmd/pulumi-tfgen-$name in $provider_dir"
[[ -f $provider_dir/$SHIM_SRC ]] || die "missing shim source $provider_dir/$SHIM_SRC"

work=$build_root/$name
upstream=$work/upstream
src=$work/src
mkdir -p "$work"
start=$SECONDS

# Go commands run with the pinned toolchain settings and a bounded time; -mod=readonly so a stale
# go.sum fails instead of being rewritten.
export GOFLAGS="-mod=readonly -buildvcs=false"
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
run_go() { timeout "$go_timeout" go "$@"; }

# 1. The Terraform provider module, copied out of the module cache (verified against TF_SUM).
log "fetching $TF_MODULE@$TF_VERSION"
dl_json=$(cd "$work" && GOFLAGS=-buildvcs=false run_go mod download -json "$TF_MODULE@$TF_VERSION") ||
	die "go mod download failed: $dl_json"
field() { sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\\{0,1\\}$/\\1/p" <<<"$dl_json" | head -n1; }
mod_dir=$(field Dir)
mod_sum=$(field Sum)
[[ -n $mod_dir && -d $mod_dir ]] || die "no module directory in: $dl_json"
[[ $mod_sum == "$TF_SUM" ]] || die "$TF_MODULE@$TF_VERSION has hash $mod_sum, provider.env pins $TF_SUM"
grep -qx "module $TF_MODULE_PATH" "$mod_dir/go.mod" ||
	die "$TF_MODULE@$TF_VERSION does not declare module $TF_MODULE_PATH"

log "copying it to $upstream with ${SHIM_DEST%/*}/"
rm -rf "$upstream"
cp -R "$mod_dir" "$upstream"
chmod -R u+w "$upstream"
mkdir -p "$upstream/$(dirname "$SHIM_DEST")"
cp "$provider_dir/$SHIM_SRC" "$upstream/$SHIM_DEST"

# 2. A copy of the provider module, built next to upstream/.
rm -rf "$src"
mkdir -p "$src"
cp -R "$provider_dir/." "$src/"
rm -f "$src/cmd/pulumi-resource-$name/schema.json"
grep -q "^[[:space:]]*$TF_MODULE_PATH => \.\./upstream\$" "$src/go.mod" ||
	die "go.mod must replace $TF_MODULE_PATH => ../upstream"

if [[ ${PULUMI_ENGINE_TIDY:-} == 1 ]]; then
	log "go mod tidy (writes go.mod/go.sum back to $provider_dir)"
	(cd "$src" && GOFLAGS=-buildvcs=false run_go mod tidy)
	cp "$src/go.mod" "$src/go.sum" "$provider_dir/"
fi

tags=()
[[ -z $GO_TAGS ]] || tags=(-tags "$GO_TAGS")
ldflags="-s -w -X $VERSION_VAR=$plugin_version"

# 3. Schema: build and run pulumi-tfgen-NAME.
tfgen=$work/bin/pulumi-tfgen-$name
log "building pulumi-tfgen-$name"
(cd "$src" && run_go build -p "$jobs" "${tags[@]}" -ldflags "$ldflags" -o "$tfgen" "./cmd/pulumi-tfgen-$name")

log "generating the schema"
rm -rf "$work/schema"
mkdir -p "$work/schema" "$work/pulumi-home"
if ! (cd "$work" && TFGEN_UPSTREAM_DIR=$upstream PULUMI_HOME=$work/pulumi-home \
	PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true \
	timeout "$tfgen_timeout" "$tfgen" schema --out "$work/schema" --skip-examples) >"$work/tfgen.log" 2>&1; then
	tail -n 40 "$work/tfgen.log" >&2
	die "tfgen failed (full log: $work/tfgen.log)"
fi
schema=$work/schema/schema.json
[[ -s $schema ]] || die "tfgen wrote no schema.json"
log "schema: $(wc -c <"$schema") bytes, $(grep -c 'warning' "$work/tfgen.log" || true) tfgen warnings (log: $work/tfgen.log)"

# tfgen leaves the version out ("stable spec"); the plugin serves it stamped, as bridged providers do.
if [[ $(head -n1 "$schema") != "{" ]] || grep -q '^    "version":' "$schema"; then
	die "unexpected layout of $schema"
fi
sed "1a\\    \"version\": \"$plugin_version\"," "$schema" >"$src/cmd/pulumi-resource-$name/schema.json"

# 4. The plugin.
log "building pulumi-resource-$name $plugin_version"
mkdir -p "$(dirname "$output")"
(cd "$src" && run_go build -p "$jobs" "${tags[@]}" -ldflags "$ldflags" -o "$output" "./cmd/pulumi-resource-$name")
got=$("$output" -version)
[[ $got == "$plugin_version" ]] || die "$output -version says $got, not $plugin_version"
log "done in $((SECONDS - start))s: $output ($(du -h "$output" | cut -f1))"
