package vault

import (
	"embed"
	"strings"
)

// The coalition's Vault policies, least privilege for each caller, kept as
// HCL beside the code that writes them to Vault (Bootstrap), so that the
// deployment files and the server read the same text.
//
//go:embed policies/*.hcl
var policyFiles embed.FS

// policies returns the policies by name (the file name without .hcl).
func policies() map[string]string {
	out := map[string]string{}
	entries, _ := policyFiles.ReadDir("policies")
	for _, e := range entries {
		b, _ := policyFiles.ReadFile("policies/" + e.Name())
		out[strings.TrimSuffix(e.Name(), ".hcl")] = string(b)
	}
	return out
}
