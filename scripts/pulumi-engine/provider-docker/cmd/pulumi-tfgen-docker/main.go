// Command pulumi-tfgen-docker generates the Pulumi schema of the bridged Docker provider:
// pulumi-tfgen-docker schema --out DIR.
package main

import (
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	provider "openclaw-tenants/engine/provider-docker"
)

func main() {
	info := provider.Provider()
	// The upstream module's docs/ (descriptions in the schema); build-provider.sh points it at its copy.
	info.UpstreamRepoPath = os.Getenv("TFGEN_UPSTREAM_DIR")
	tfgen.Main("docker", provider.Version, info)
}
