package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// partnerStaffCmd manages the credentials a partner's staff sign in to the
// partner portal with. The operator issues a partner's first admin here;
// from then on the partner's admin issues and revokes its own staff in the
// portal. A credential is a staff API key of the partner with a portal
// role: shown once, kept only as its Vault transit HMAC; revoke it with
// `coalitionctl staff revoke ID`.
func partnerStaffCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "staff", Short: "Sign-in credentials of a partner's staff for the partner portal"}
	var role, name, url string
	issue := &cobra.Command{
		Use:   "issue CODE",
		Short: "Issue a partner staff credential (--role partner-admin|partner-finance|partner-marketing --name WHO); it is shown once",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if !apikeys.IsPartnerStaff(role) {
				return fmt.Errorf("--role must be one of %s", strings.Join(apikeys.PartnerStaffRoles, ", "))
			}
			if name == "" {
				return fmt.Errorf("--name is required: whose credential this is")
			}
			p, err := partners.New(partners.Config{Tx: e.runner}).ByCode(c.Context(), args[0])
			if err != nil {
				return err
			}
			v, err := e.vault()
			if err != nil {
				return err
			}
			k, secret, err := apikeys.New(apikeys.Config{Tx: e.runner, Hasher: v}).Issue(c.Context(), &p.ID, role, name)
			if err != nil {
				return err
			}
			fmt.Printf("Partner staff credential %s (%s of %s, %s):\n\n  %s\n\nShown once; hand it over privately. Sign in at %s/signin.\n"+
				"Revoke it with: coalitionctl staff revoke %s\n", k.ID, k.Role, p.Code, k.Name, secret, url, k.ID)
			return nil
		},
	}
	issue.Flags().StringVar(&role, "role", apikeys.RolePartnerAdmin, "partner-admin, partner-finance or partner-marketing")
	issue.Flags().StringVar(&name, "name", "", "the person it is for")
	issue.Flags().StringVar(&url, "url", "https://127.0.0.1:8080", "where the web pages are served")
	list := &cobra.Command{
		Use:   "list CODE",
		Short: "List a partner's staff credentials (never the credentials themselves)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := partners.New(partners.Config{Tx: e.runner}).ByCode(c.Context(), args[0])
			if err != nil {
				return err
			}
			ks, err := apikeys.New(apikeys.Config{Tx: e.runner}).ListOf(c.Context(), p.ID)
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "ID\tROLE\tNAME\tCREATED\tSTATE")
			for _, k := range ks {
				if !slices.Contains(apikeys.PartnerStaffRoles, k.Role) {
					continue
				}
				state := "active"
				if k.RevokedAt != nil {
					state = "revoked " + k.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Name, k.CreatedAt.Format(time.RFC3339), state)
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(issue, list)
	return cmd
}
