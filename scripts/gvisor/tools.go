//go:build tools

// Package tools pins gVisor's runsc, built by scripts/ensure-docker.sh from the Go module proxy.
// gvisor.dev/gvisor's versions on the proxy are its "go" branch, with the generated files a plain
// `go build gvisor.dev/gvisor/runsc` needs. Debian 12's runsc (2022-12-19) cannot run the gateway:
// it has no openat2 ("openat2 beneath root: Function not implemented").
package tools

import _ "gvisor.dev/gvisor/runsc"
