#!/usr/bin/env bash
# The Pulumi engine for this project, built from Go modules (no download outside the registries).
#
#   ensure-pulumi.sh            build what is missing or stale, then print the environment to use
#   ensure-pulumi.sh --env      only print the environment (PATH, PULUMI_HOME, ...) as `export` lines
#
# Installs into $PULUMI_ENGINE_DIR (default <repo>/.tools/pulumi):
#   bin/   pulumi, pulumi-language-python (+ its -exec shim), pulumi-resource-pulumi-python
#   home/  PULUMI_HOME; home/plugins/resource-<name>-v<version>/ holds each provider plugin
#
# Versions: the CLI is pinned by scripts/pulumi-engine/cli/go.mod; every provider plugin is built at
# exactly the version its installed Python SDK package asks for (pyproject.toml pins those), from
# the Go modules pinned by scripts/pulumi-engine/provider-<name>/go.mod and provider.env. A pulumi
# already on PATH is used instead of building the CLI when its version is at least the pinned one.
# Each build is stamped with a hash of its inputs, so a second run only checks stamps.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/scripts/pulumi-engine
dir=${PULUMI_ENGINE_DIR:-$root/.tools/pulumi}
bin=$dir/bin
home=$dir/home
stamps=$dir/stamps
python=${PYTHON:-$root/.venv/bin/python}
export GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=${GOTOOLCHAIN:-local}

log() { printf '[ensure-pulumi] %s\n' "$*" >&2; }
die() {
	printf '[ensure-pulumi] error: %s\n' "$*" >&2
	exit 1
}

cli_version=$(sed -n 's|^require github.com/pulumi/pulumi/pkg/v3 \(v[0-9.]*\)$|\1|p' "$src/cli/go.mod")
[[ -n $cli_version ]] || die "no pinned github.com/pulumi/pulumi/pkg/v3 in $src/cli/go.mod"

print_env() {
	printf 'export PATH=%q\n' "$bin:$PATH"
	printf 'export PULUMI_HOME=%q\n' "$home"
	printf 'export PULUMI_SKIP_UPDATE_CHECK=true\n'
	printf 'export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true\n'
	printf 'export PULUMI_IGNORE_AMBIENT_PLUGINS=true\n'
}
if [[ ${1:-} == --env ]]; then
	print_env
	exit 0
fi

command -v go >/dev/null || die "Go is needed to build the engine (go 1.26 with the module proxy)"
[[ -x $python ]] || die "$python is missing: run 'make venv' first"
mkdir -p "$bin" "$home/plugins" "$stamps"

# A stamp is the hash of everything a build reads; equal stamp and present output = nothing to do.
inputs_hash() {
	{
		go env GOVERSION GOOS GOARCH
		printf '%s\n' "$@"
		find "$src/$1" -type f ! -name '*.log' -print0 | sort -z | xargs -0 sha256sum
	} | sha256sum | cut -c1-16
}
fresh() { [[ -f $stamps/$1 && $(cat "$stamps/$1") == "$2" && -x $3 ]]; }
stamp() { printf '%s\n' "$2" >"$stamps/$1"; }
timed() {
	local what=$1 start=$SECONDS
	shift
	log "building $what (first time on this machine: minutes)"
	"$@"
	log "built $what in $((SECONDS - start))s"
}

version_at_least() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]; }

# --- the CLI and the Python language host ------------------------------------------------------
ours=$bin/pulumi
system_pulumi=$(PATH=${PATH//$bin:/} command -v pulumi || true)
if [[ -n $system_pulumi && $system_pulumi != "$ours" ]] &&
	have=$("$system_pulumi" version 2>/dev/null) && version_at_least "${have#v}" "${cli_version#v}"; then
	log "using $system_pulumi ($have >= $cli_version) and the language host next to it"
	ln -sf "$system_pulumi" "$ours"
	for extra in pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python; do
		[[ -x $(dirname "$system_pulumi")/$extra ]] && ln -sf "$(dirname "$system_pulumi")/$extra" "$bin/$extra"
	done
else
	key=$(inputs_hash cli "$cli_version")
	if [[ -L $ours ]] || ! fresh cli "$key" "$ours"; then
		rm -f "$ours"
		timed "pulumi $cli_version" go build -C "$src/cli" -p 2 -trimpath -o "$ours" \
			-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version" \
			github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
		stamp cli "$key"
	fi
	host=$bin/pulumi-language-python
	key=$(inputs_hash language-python "$cli_version")
	if [[ -L $host ]] || ! fresh language-python "$key" "$host"; then
		rm -f "$host" "$bin/pulumi-language-python-exec" "$bin/pulumi-resource-pulumi-python"
		timed "pulumi-language-python $cli_version" go build -C "$src/language-python" -p 2 -trimpath -o "$host" \
			-ldflags "-s -w -X main.version=$cli_version" .
		# The exec shim and the dynamic-provider host ship inside the SDK module the host was built from.
		sdk_version=$(go list -C "$src/language-python" -m -f '{{.Version}}' github.com/pulumi/pulumi/sdk/v3)
		sdk_dir=$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@$sdk_version" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
		install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"
		stamp language-python "$key"
	fi
fi

# --- the resource plugins, at the versions the Python SDK packages ask for -------------------------
plugin_version() {
	"$python" - "$1" <<-'EOF'
		import json, sys
		from importlib import resources
		name = sys.argv[1]
		try:
		    spec = json.loads((resources.files(f"pulumi_{name}") / "pulumi-plugin.json").read_text())
		except ModuleNotFoundError:
		    sys.exit(0)
		print(spec["version"])
	EOF
}

for provider_dir in "$src"/provider-*/; do
	name=$(basename "$provider_dir")
	name=${name#provider-}
	version=$(plugin_version "$name")
	if [[ -z $version ]]; then
		log "skipping $name: its Python SDK package (pulumi_$name) is not installed"
		continue
	fi
	plugin_dir=$home/plugins/resource-$name-v$version
	plugin=$plugin_dir/pulumi-resource-$name
	key=$(inputs_hash "provider-$name" "$version")
	if ! fresh "provider-$name" "$key" "$plugin"; then
		rm -rf "$plugin_dir" "$plugin_dir.partial" "$plugin_dir.lock"
		timed "pulumi-resource-$name $version" bash "$src/build-provider.sh" "$provider_dir" "$plugin" "$version"
		stamp "provider-$name" "$key"
	fi
done

"$ours" version >/dev/null || die "$ours does not run"
log "engine ready: $("$ours" version) in $bin, plugins in $home/plugins"
