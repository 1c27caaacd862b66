// Command pulumi-resource-docker serves the bridged Docker provider to the Pulumi engine.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	provider "openclaw-tenants/engine/provider-docker"
)

// schema.json is written here by build-provider.sh (tfgen's output, version stamped); it is not
// kept in the source tree.
//
//go:embed schema.json
var pulumiSchema []byte

func main() {
	tfbridge.Main("docker", provider.Version, provider.Provider(), pulumiSchema)
}
