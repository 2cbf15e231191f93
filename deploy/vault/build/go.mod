// Build-only module for a local HashiCorp Vault server (dev mode and tests).
// Kept out of the project's main go.mod on purpose: see README.md here and
// scripts/vault.sh, which is the only supported way to build it.
module github.com/coalition-loyalty/coalition/deploy/vault/build

go 1.25.1

require (
	github.com/hashicorp/vault v1.21.0
	github.com/hashicorp/vault/api v1.22.0
	github.com/hashicorp/vault/sdk v0.20.0
)

// Vault's own go.mod replaces sdk and api with folders of its repository;
// replaces of a dependency are ignored, so pin them to the tagged versions
// that equal those folders at v1.21.0.
replace (
	github.com/hashicorp/vault/api => github.com/hashicorp/vault/api v1.22.0
	github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk v0.20.0
)

// Vault v1.21.0's two non-local replaces, repeated (same reason).
replace (
	github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3
	github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
)
