package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/api"
)

// AppRoleCredentials are what the server logs in with.
type AppRoleCredentials struct {
	RoleID   string
	SecretID string
}

// Bootstrap sets up everything the coalition needs in Vault, and changes
// nothing that is already there: the root CA and the intermediate CA that
// issues certificates, the partner and server roles, the transit keys, the
// KV mount of the wallet credentials, the policies, and the server's
// AppRole. serverDomains are the DNS names (and
// their subdomains) the server's certificate may carry; localhost if none.
// It returns fresh AppRole credentials for the server.
func (c *Client) Bootstrap(ctx context.Context, serverDomains ...string) (AppRoleCredentials, error) {
	if len(serverDomains) == 0 {
		serverDomains = []string{"localhost"}
	}
	mounts, err := c.api.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return AppRoleCredentials{}, fmt.Errorf("vault bootstrap: list mounts: %w", err)
	}
	mount := func(path, kind, maxTTL string) error {
		if _, ok := mounts[path+"/"]; ok {
			return nil
		}
		err := c.api.Sys().MountWithContext(ctx, path, &api.MountInput{Type: kind, Config: api.MountConfigInput{MaxLeaseTTL: maxTTL}})
		if err != nil {
			return fmt.Errorf("vault bootstrap: mount %s: %w", path, err)
		}
		return nil
	}
	if err := mount(RootMount, "pki", "87600h"); err != nil {
		return AppRoleCredentials{}, err
	}
	if err := mount(PKIMount, "pki", "43800h"); err != nil {
		return AppRoleCredentials{}, err
	}
	if err := mount(TransitMount, "transit", ""); err != nil {
		return AppRoleCredentials{}, err
	}
	// Credentials others issue to the coalition (Apple's and Google's
	// wallet keys): kept, versioned, never generated here.
	if _, ok := mounts[SecretsMount+"/"]; !ok {
		if err := c.api.Sys().MountWithContext(ctx, SecretsMount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			return AppRoleCredentials{}, fmt.Errorf("vault bootstrap: mount %s: %w", SecretsMount, err)
		}
	}
	if err := c.ensureCA(ctx); err != nil {
		return AppRoleCredentials{}, err
	}
	roles := map[string]map[string]any{
		// Partners' client certificates: the partner's code as CN, its id
		// in a URI SAN, usable only for client authentication.
		PKIMount + "/roles/" + PartnerRole: {
			"allow_any_name": true, "enforce_hostnames": false, "require_cn": true,
			"allowed_uri_sans": PartnerURIPrefix + "*", "allow_ip_sans": false,
			"client_flag": true, "server_flag": false,
			"key_type": "ec", "key_bits": 256, "ttl": "2160h", "max_ttl": "8760h",
		},
		// Finance and operator staff's client certificates:
		// coalition://staff/<role>/<name>.
		PKIMount + "/roles/" + StaffRole: {
			"allow_any_name": true, "enforce_hostnames": false, "require_cn": true,
			"allowed_uri_sans": StaffURIPrefix + "*", "allow_ip_sans": false,
			"client_flag": true, "server_flag": false,
			"key_type": "ec", "key_bits": 256, "ttl": "720h", "max_ttl": "2160h",
		},
		// The server's certificate, for the host names it is reached by.
		PKIMount + "/roles/" + ServerRole: {
			"allowed_domains": strings.Join(serverDomains, ","), "allow_bare_domains": true, "allow_localhost": true,
			"allow_subdomains": true, "allow_ip_sans": true,
			"client_flag": false, "server_flag": true,
			"key_type": "ec", "key_bits": 256, "ttl": "72h", "max_ttl": "720h",
		},
		TransitMount + "/keys/" + PhoneHashKey: {"type": "aes256-gcm96"},
		TransitMount + "/keys/" + APIKeyKey:    {"type": "aes256-gcm96"},
	}
	for path, data := range roles {
		if strings.Contains(path, "/keys/") {
			if s, _ := c.api.Logical().ReadWithContext(ctx, path); s != nil {
				continue // never recreate a key: its hashes would change
			}
		}
		if _, err := c.write(ctx, path, data); err != nil {
			return AppRoleCredentials{}, err
		}
	}
	for name, rules := range policies() {
		if err := c.api.Sys().PutPolicyWithContext(ctx, name, rules); err != nil {
			return AppRoleCredentials{}, fmt.Errorf("vault bootstrap: policy %s: %w", name, err)
		}
	}
	auths, err := c.api.Sys().ListAuthWithContext(ctx)
	if err != nil {
		return AppRoleCredentials{}, fmt.Errorf("vault bootstrap: list auth: %w", err)
	}
	if _, ok := auths["approle/"]; !ok {
		if err := c.api.Sys().EnableAuthWithOptionsWithContext(ctx, "approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
			return AppRoleCredentials{}, fmt.Errorf("vault bootstrap: enable approle: %w", err)
		}
	}
	role := "auth/approle/role/" + AppRoleName
	if _, err := c.write(ctx, role, map[string]any{
		"token_policies": "coalitiond", "token_ttl": "1h", "token_max_ttl": "24h",
	}); err != nil {
		return AppRoleCredentials{}, err
	}
	s, err := c.read(ctx, role+"/role-id")
	if err != nil {
		return AppRoleCredentials{}, err
	}
	var creds AppRoleCredentials
	creds.RoleID, _ = s.Data["role_id"].(string)
	if s, err = c.write(ctx, role+"/secret-id", nil); err != nil {
		return AppRoleCredentials{}, err
	}
	creds.SecretID, _ = s.Data["secret_id"].(string)
	return creds, nil
}

// ensureCA makes the root CA and the intermediate that issues everything,
// once.
func (c *Client) ensureCA(ctx context.Context) error {
	if s, err := c.api.Logical().ReadWithContext(ctx, PKIMount+"/cert/ca_chain"); err == nil && s != nil {
		if chain, _ := s.Data["ca_chain"].(string); strings.Contains(chain, "BEGIN CERTIFICATE") {
			return nil
		}
	}
	root, err := c.write(ctx, RootMount+"/root/generate/internal", map[string]any{
		"common_name": "Coalition Root CA", "key_type": "ec", "key_bits": 384, "ttl": "87600h",
	})
	if err != nil {
		return err
	}
	rootPEM, _ := root.Data["certificate"].(string)
	csr, err := c.write(ctx, PKIMount+"/intermediate/generate/internal", map[string]any{
		"common_name": "Coalition Issuing CA", "key_type": "ec", "key_bits": 256,
	})
	if err != nil {
		return err
	}
	signed, err := c.write(ctx, RootMount+"/root/sign-intermediate", map[string]any{
		"csr": csr.Data["csr"], "format": "pem", "ttl": "43800h",
	})
	if err != nil {
		return err
	}
	cert, _ := signed.Data["certificate"].(string)
	_, err = c.write(ctx, PKIMount+"/intermediate/set-signed", map[string]any{"certificate": cert + "\n" + rootPEM})
	return err
}
