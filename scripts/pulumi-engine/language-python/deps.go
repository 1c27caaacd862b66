package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
)

// distributionsScript prints every distribution installed in the interpreter's environment with the path of
// the pulumi-plugin.json it ships, if any: first among the files the distribution installed
// (<package>/pulumi-plugin.json), then, for editable installs, in the package named after the distribution
// (upstream's rule). One interpreter start instead of upstream's `pip list` plus a lookup script.
const distributionsScript = `import importlib.metadata, importlib.util, json, os, re, sys
sys.path[:] = [p for p in sys.path if p != ""]  # like pip list: not the current directory
result, seen = [], set()
for dist in importlib.metadata.distributions():
    name = dist.metadata["Name"] or ""
    norm = re.sub(r"[-_.]+", "-", name).lower()
    if not norm or norm in seen:
        continue  # the first one on sys.path is the one Python imports
    seen.add(norm)
    found = ""
    for f in dist.files or ():
        if len(f.parts) == 2 and f.parts[1] == "pulumi-plugin.json" and os.path.isfile(str(f.locate())):
            found = os.path.abspath(str(f.locate()))
            break
    module = name.replace("-", "_")
    if not found and module.isidentifier():
        try:
            spec = importlib.util.find_spec(module)
        except Exception:
            spec = None
        for loc in (spec.submodule_search_locations or []) if spec else []:
            if os.path.isfile(os.path.join(loc, "pulumi-plugin.json")):
                found = os.path.join(loc, "pulumi-plugin.json")
                break
    result.append({"name": norm, "version": dist.version, "plugin": found})
json.dump(result, sys.stdout)
`

// packagesWithoutPlugins are Pulumi libraries that are not providers (old releases lack a
// pulumi-plugin.json saying so).
var packagesWithoutPlugins = map[string]bool{"pulumi-policy": true, "pulumi-esc-sdk": true}

// GetRequiredPackages reports the resource plugins (and parameterized packages) the program's environment
// needs, so that the CLI can check they are installed before it runs the program.
func (h *host) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

// GetRequiredPlugins is the older form of GetRequiredPackages, without parameterization.
func (h *host) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(pkgs))
	for _, p := range pkgs {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server, Checksums: p.Checksums,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *host) requiredPackages(
	ctx context.Context, info *pulumirpc.ProgramInfo,
) ([]*pulumirpc.PackageDependency, error) {
	_, tc, err := h.resolve(info, false)
	if err != nil {
		return nil, err
	}
	// Unlike upstream (EnsureVenv), never create the virtualenv here: report it missing.
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", distributionsScript)
	if err != nil {
		return nil, err
	}
	cmd.Dir = info.GetProgramDirectory()
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			err = fmt.Errorf("%w: %s", err, exitErr.Stderr)
		}
		return nil, fmt.Errorf("listing the installed Python packages with %s: %w", cmd.Path, err)
	}
	var dists []struct{ Name, Version, Plugin string }
	if err := json.Unmarshal(out, &dists); err != nil {
		return nil, fmt.Errorf("parsing the list of installed Python packages: %w", err)
	}

	pkgs := []*pulumirpc.PackageDependency{}
	for _, d := range dists {
		if packagesWithoutPlugins[d.Name] {
			continue
		}
		var meta plugin.PulumiPluginJSON
		if d.Plugin != "" {
			b, err := os.ReadFile(d.Plugin)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(b, &meta); err != nil {
				return nil, fmt.Errorf("parsing %s of Python package %s: %w", d.Plugin, d.Name, err)
			}
			if !meta.Resource {
				continue // the package says it has no plugin
			}
		} else if !strings.HasPrefix(d.Name, "pulumi-") {
			continue // not a Pulumi package
		}
		name, ver := meta.Name, meta.Version
		if name == "" {
			name = strings.TrimPrefix(d.Name, "pulumi-")
		}
		if ver == "" {
			if ver, err = pep440ToSemver(d.Version); err != nil {
				// e.g. "3.31.0a1605189729": the plugin's build suffix is unknowable, so skip like upstream.
				logging.V(5).Infof("GetRequiredPackages: no plugin version for %s %s: %v", d.Name, d.Version, err)
				continue
			}
		}
		if !strings.HasPrefix(ver, "v") {
			ver = "v" + ver
		}
		pkgs = append(pkgs, &pulumirpc.PackageDependency{
			Kind:             "resource",
			Name:             name,
			Version:          ver,
			Server:           meta.Server,
			Parameterization: parameterization(meta.Parameterization),
			Extension:        parameterization(meta.ExtensionParameterization),
		})
		logging.V(5).Infof("GetRequiredPackages: %s %s (from Python package %s)", name, ver, d.Name)
	}
	return pkgs, nil
}

func parameterization(p *plugin.PulumiParameterizationJSON) *pulumirpc.PackageParameterization {
	if p == nil {
		return nil
	}
	return &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
}

var pep440 = regexp.MustCompile(`^(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?(?:\.post(\d+))?(?:\.dev(\d+))?$`)

// pep440ToSemver converts a Python package version to the plugin's semver, as upstream does: at least three
// release segments, aN/bN/rcN become -alpha.N/-beta.N/-rc.N, .postN/.devN become build metadata.
func pep440ToSemver(v string) (string, error) {
	m := pep440.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("unsupported version %q", v)
	}
	segments := strings.Split(m[1], ".")
	for len(segments) < 3 {
		segments = append(segments, "0")
	}
	out := strings.Join(segments, ".")
	if m[2] != "" {
		out += "-" + map[string]string{"a": "alpha", "b": "beta", "rc": "rc"}[m[2]] + "." + m[3]
	}
	var build string
	if m[4] != "" {
		build += "post" + m[4]
	}
	if m[5] != "" {
		build += "dev" + m[5]
	}
	if build != "" {
		out += "+" + build
	}
	return out, nil
}

// InstallDependencies does not install anything: this project creates its virtualenv itself (`make`). It only
// checks that the virtualenv exists and runs, so `pulumi install` fails clearly when it does not.
func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	ctx := server.Context()
	_, tc, err := h.resolve(req.GetInfo(), req.GetIsPlugin())
	if err != nil {
		return err
	}
	const hint = "\n\nThis Python language host does not install dependencies: create the virtualenv first " +
		"(for openclaw-tenants, `make` creates .venv)."
	if err := tc.ValidateVenv(ctx); err != nil {
		return fmt.Errorf("%w%s", err, hint)
	}
	if _, err := tc.About(ctx); err != nil {
		return fmt.Errorf("the Python of this project does not run: %w%s", err, hint)
	}
	return nil
}

func (h *host) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

// About reports the python the program runs with (`pulumi about`).
func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip} // older engines send no ProgramInfo
	tc, err := toolchain.ResolveToolchain(opts)
	if req.GetInfo() != nil {
		opts, tc, err = h.resolve(req.GetInfo(), false)
	}
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": info.ToolchainVersion.String(),
			"typechecker":      toolchain.TypeCheckerName(opts.Typechecker),
		},
	}, nil
}

// GetProgramDependencies lists the installed distributions (`pulumi about`).
func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	_, tc, err := h.resolve(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("failed to get python dependencies: %w", err)
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}
