// Package policies holds the coalition's Vault policies, least privilege for
// each caller, as HCL files that `coalitionctl vault bootstrap` writes to
// Vault.
package policies

import (
	"embed"
	"strings"
)

//go:embed *.hcl
var files embed.FS

// All returns the policies by name (the file name without .hcl).
func All() map[string]string {
	out := map[string]string{}
	entries, _ := files.ReadDir(".")
	for _, e := range entries {
		b, _ := files.ReadFile(e.Name())
		out[strings.TrimSuffix(e.Name(), ".hcl")] = string(b)
	}
	return out
}
