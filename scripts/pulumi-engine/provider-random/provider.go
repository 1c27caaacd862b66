// Package provider maps the HashiCorp Terraform random provider (plugin framework) to the Pulumi
// package "random", with the tokens that the pulumi_random Python SDK (4.x) uses:
// random_password -> random:index/randomPassword:RandomPassword and so on.
package provider

import (
	"context"
	"errors"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	// Not part of the upstream module: build-provider.sh adds this package to a copy of it.
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is stamped by build-provider.sh with -ldflags -X.
var Version = "0.0.0-dev"

const (
	pkg = "random"
	mod = "index"
)

// Provider returns the mapping that both pulumi-tfgen-random and pulumi-resource-random use.
func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:           pftfbridge.ShimProviderWithContext(context.Background(), shim.NewProvider()),
		Name:        pkg,
		Version:     Version,
		Description: "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:    []string{"pulumi", "random"},
		License:     "Apache-2.0",
		GitHubOrg:   "hashicorp",
		// The plugin-framework tfgen requires it; nothing is kept across builds.
		MetadataInfo: tfbridge.NewProviderMetadata(nil),
		// As the published provider: previews computed by the TF plan, raw state deltas kept.
		EnableAccurateBridgePreview: true,
		EnableRawStateDelta:         true,
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_bytes has no "id" in TF; like the published provider, its ID is its base64.
			"random_bytes": {ComputeID: bytesID},
		},
	}
	// Every TF resource keeps its "Random" prefix: random_password -> RandomPassword.
	prefixed := func(module, name string) (string, error) {
		return tokens.MakeStandard(pkg)(module, "Random"+name)
	}
	info.MustComputeTokens(tokens.SingleModule("random_", mod, prefixed))
	return info
}

func bytesID(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	v, ok := state["base64"]
	if !ok {
		return "", errors.New("random_bytes state has no base64")
	}
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return "", errors.New("random_bytes base64 is not a string")
	}
	return resource.ID(v.StringValue()), nil
}
