package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/onboarding"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// vaultClient connects with --vault-addr/--vault-token or the standard
// VAULT_ADDR/VAULT_TOKEN.
func (e *env) vault() (*vault.Client, error) {
	addr, tok := e.vaultAddr, e.vaultToken
	if addr == "" {
		addr = os.Getenv("VAULT_ADDR")
	}
	if tok == "" {
		tok = os.Getenv("VAULT_TOKEN")
	}
	if addr == "" || tok == "" {
		return nil, errors.New("no Vault given: pass --vault-addr and --vault-token (or set VAULT_ADDR and VAULT_TOKEN)")
	}
	return vault.New(addr, tok)
}

func vaultCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "vault", Short: "Set up Vault for the coalition"}
	var secretFile string
	var serverDomains []string
	bootstrap := &cobra.Command{
		Use:   "bootstrap",
		Short: "Create the coalition CA, roles, transit keys, policies and the server's AppRole (idempotent)",
		Long: `bootstrap sets up, in the Vault given by --vault-addr and --vault-token: the
coalition's root and issuing CA (PKI engine), the partner, staff and server
certificate roles, the transit keys that hash phone numbers and API keys, the
least-privilege policies from coalition/infra/vault/policies, and the server's AppRole.
What exists already is left as it is. It prints the AppRole's role id and
writes a new secret id to --secret-id-file (mode 0600), for coalitiond serve.`,
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil }, // no database needed
		RunE: func(c *cobra.Command, _ []string) error {
			v, err := e.vault()
			if err != nil {
				return err
			}
			creds, err := v.Bootstrap(c.Context(), serverDomains...)
			if err != nil {
				return err
			}
			if err := os.WriteFile(secretFile, []byte(creds.SecretID+"\n"), 0o600); err != nil {
				return err
			}
			fmt.Printf("Vault is ready for the coalition.\n  AppRole role id: %s\n  secret id written to %s\n", creds.RoleID, secretFile)
			return nil
		},
	}
	bootstrap.Flags().StringVar(&secretFile, "secret-id-file", "coalitiond.secret-id", "where to write the server's AppRole secret id")
	bootstrap.Flags().StringSliceVar(&serverDomains, "server-domains", []string{"localhost"},
		"DNS names (and their subdomains) the server's certificate may carry, e.g. localhost,coalition.example")
	cmd.AddCommand(bootstrap)
	cmd.AddCommand(walletVaultCmds(e)...)
	return cmd
}

func certCmds(e *env) []*cobra.Command {
	var dir string
	var ttl time.Duration
	run := func(c *cobra.Command, args []string) error {
		v, reg, p, err := e.vaultAndPartner(c.Context(), args[0])
		if err != nil {
			return err
		}
		out := dir
		if out == "" {
			out = filepath.Join("bundles", p.Code)
		}
		return issueAndTell(c, v, reg, p, ttl, out)
	}
	issue := &cobra.Command{
		Use:   "issue-cert CODE",
		Short: "Issue a client certificate bundle for a partner",
		Args:  cobra.ExactArgs(1),
		RunE:  run,
	}
	// Rotation is a new certificate beside the old: the partner switches
	// over, then the old one is revoked.
	rotate := &cobra.Command{
		Use:   "rotate-cert CODE",
		Short: "Issue a partner a new certificate bundle to replace its current one; the old stays valid until revoke-cert",
		Long: `rotate-cert issues a partner a new client certificate bundle. Its older
certificates stay valid, so that the partner switches over without a gap;
revoke them afterwards with revoke-cert SERIAL (certs CODE lists them).`,
		Args: cobra.ExactArgs(1),
		RunE: run,
	}
	for _, c := range []*cobra.Command{issue, rotate} {
		c.Flags().StringVar(&dir, "bundle-dir", "", "folder for the bundle (default bundles/<code>)")
		c.Flags().DurationVar(&ttl, "ttl", onboarding.DefaultTTL, "certificate lifetime")
	}
	list := &cobra.Command{
		Use:   "certs CODE",
		Short: "List a partner's certificates",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			reg := partners.New(partners.Config{Tx: e.runner})
			p, err := reg.ByCode(c.Context(), args[0])
			if err != nil {
				return err
			}
			cs, err := reg.Certificates(c.Context(), p.ID)
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "SERIAL\tISSUED\tEXPIRES\tREVOKED")
			for _, x := range cs {
				revoked := "-"
				if x.RevokedAt != nil {
					revoked = x.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", x.Serial, x.IssuedAt.Format(time.RFC3339), x.NotAfter.Format(time.RFC3339), revoked)
			}
			return w.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke-cert SERIAL",
		Short: "Revoke a partner certificate (servers refuse it within their revocation-list refresh, 30 s)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			v, err := e.vault()
			if err != nil {
				return err
			}
			if err := onboarding.RevokeCertificate(c.Context(), v, partners.New(partners.Config{Tx: e.runner}), args[0]); err != nil {
				return err
			}
			fmt.Println("revoked", args[0])
			return nil
		},
	}
	revokeAll := &cobra.Command{
		Use:   "revoke CODE",
		Short: "Revoke every certificate of a partner (see also suspend)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			v, reg, p, err := e.vaultAndPartner(c.Context(), args[0])
			if err != nil {
				return err
			}
			cs, err := reg.Certificates(c.Context(), p.ID)
			if err != nil {
				return err
			}
			n := 0
			for _, x := range cs {
				if x.RevokedAt != nil {
					continue
				}
				if err := onboarding.RevokeCertificate(c.Context(), v, reg, x.Serial); err != nil {
					return err
				}
				n++
			}
			fmt.Printf("revoked %d certificates of %s\n", n, p.Code)
			return nil
		},
	}
	return []*cobra.Command{issue, rotate, list, revoke, revokeAll}
}

func issueAndTell(c *cobra.Command, v *vault.Client, reg *partners.Register, p partners.Partner, ttl time.Duration, out string) error {
	b, err := onboarding.IssueCertificate(c.Context(), v, reg, p, ttl, out)
	if err != nil {
		return err
	}
	fmt.Printf("issued certificate %s for %s, valid until %s\n  bundle: %s/{%s,%s,%s}\n  hand it to the partner once; the key is not kept anywhere else\n",
		b.Serial, p.Code, b.NotAfter.Format(time.RFC3339), out, onboarding.CertFile, onboarding.KeyFile, onboarding.CAFile)
	return nil
}

// vaultAndPartner connects to Vault and finds the partner a command names.
func (e *env) vaultAndPartner(ctx context.Context, code string) (*vault.Client, *partners.Register, partners.Partner, error) {
	v, err := e.vault()
	if err != nil {
		return nil, nil, partners.Partner{}, err
	}
	reg := partners.New(partners.Config{Tx: e.runner})
	p, err := reg.ByCode(ctx, code)
	return v, reg, p, err
}
