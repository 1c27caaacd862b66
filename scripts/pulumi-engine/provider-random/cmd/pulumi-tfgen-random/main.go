// Command pulumi-tfgen-random generates the Pulumi schema of the bridged random provider:
// pulumi-tfgen-random schema --out DIR.
package main

import (
	"os"

	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	provider "openclaw-tenants/engine/provider-random"
)

func main() {
	info := provider.Provider()
	// The upstream module's docs/ (descriptions in the schema); build-provider.sh points it at its copy.
	info.UpstreamRepoPath = os.Getenv("TFGEN_UPSTREAM_DIR")
	pftfgen.Main("random", info)
}
