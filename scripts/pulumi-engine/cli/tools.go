//go:build tools

// Package tools pins the Pulumi CLI. pkg/v3's own go.mod replaces sdk/v3 with a relative path, so
// `go install pkg/v3/cmd/pulumi@version` is refused; this module requires both at one version and
// repeats pkg's remote replace, which lets `go build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi` work.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
