// Package provider maps the kreuzwerker Terraform Docker provider (SDKv2) to the Pulumi package
// "docker", with the tokens and names that the pulumi_docker Python SDK (5.x) uses.
//
// Only what the bridge cannot compute by itself is written here: the resource tokens whose names
// differ from the automatic ones, the field names that the published schema does not pluralise,
// and the provider's `host` default. Everything else (tokens, names, MaxItems=1 flattening,
// secrets from TF's Sensitive) is computed by the bridge.
package provider

import (
	"context"
	"runtime"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"

	// Not part of the upstream module: build-provider.sh adds this package to a copy of it.
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

// Version is stamped by build-provider.sh with -ldflags -X.
var Version = "0.0.0-dev"

const (
	pkg = "docker"
	mod = "index"
)

// Provider returns the mapping that both pulumi-tfgen-docker and pulumi-resource-docker use.
func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(shim.NewProvider(Version)),
		Name:        pkg,
		Version:     Version,
		Description: "A Pulumi package for interacting with Docker in Pulumi programs",
		Keywords:    []string{"pulumi", "docker"},
		License:     "Apache-2.0",
		GitHubOrg:   "kreuzwerker",
		// tfgen needs it (it must not be nil); nothing is kept across builds.
		MetadataInfo: tfbridge.NewProviderMetadata(nil),
		Config: map[string]*tfbridge.SchemaInfo{
			// Required in TF, where a DefaultFunc fills it; Pulumi needs the default declared.
			"host": {
				Default: &tfbridge.DefaultInfo{
					EnvVars: []string{"DOCKER_HOST"},
					ComputeDefault: func(context.Context, tfbridge.ComputeDefaultOptions) (any, error) {
						if runtime.GOOS == "windows" {
							return "npipe:////./pipe/docker_engine", nil
						}
						return "unix:///var/run/docker.sock", nil
					},
				},
			},
			// A set of blocks, published under a singular name.
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_config": {Tok: tfbridge.MakeResource(pkg, mod, "ServiceConfig")},
			"docker_container": {
				Tok:                 tfbridge.MakeResource(pkg, mod, "Container"),
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					// One command (argv), not several: not pluralised.
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok:    tfbridge.MakeResource(pkg, mod, "RemoteImage"),
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: tfbridge.MakeDataSource(pkg, mod, "getRemoteImage")},
		},
	}
	info.MustComputeTokens(tokens.SingleModule("docker_", mod, tokens.MakeStandard(pkg)))
	info.SetAutonaming(255, "-")
	return info
}
