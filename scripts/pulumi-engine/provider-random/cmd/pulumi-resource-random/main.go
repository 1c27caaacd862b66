// Command pulumi-resource-random serves the bridged random provider to the Pulumi engine.
package main

import (
	"context"
	_ "embed"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	provider "openclaw-tenants/engine/provider-random"
)

// schema.json is written here by build-provider.sh (tfgen's output, version stamped); it is not
// kept in the source tree.
//
//go:embed schema.json
var pulumiSchema []byte

func main() {
	pftfbridge.Main(context.Background(), "random", provider.Provider(),
		pftfbridge.ProviderMetadata{PackageSchema: pulumiSchema})
}
