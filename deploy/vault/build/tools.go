//go:build tools

// Package build only records the dependency on Vault's main package so that
// `go mod tidy` keeps go.mod and go.sum complete. Nothing here is compiled:
// scripts/vault.sh runs `go build github.com/hashicorp/vault` in this module.
package build

import _ "github.com/hashicorp/vault"
