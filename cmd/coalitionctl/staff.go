package main

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition/apikeys"
)

// staffCmd manages the credentials finance and operator staff sign in to the
// web pages with. A staff credential is a staff API key: shown once, kept
// only as its Vault transit HMAC, and revoking it ends its web sessions at
// once.
func staffCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "staff", Short: "Sign-in credentials of finance and operator staff"}
	var role, name, url string
	add := &cobra.Command{
		Use:   "add",
		Short: "Issue a staff credential (--role finance|operator --name WHO); it is shown once",
		RunE: func(c *cobra.Command, _ []string) error {
			if role != "finance" && role != "operator" {
				return fmt.Errorf("--role must be finance or operator")
			}
			if name == "" {
				return fmt.Errorf("--name is required: whose credential this is")
			}
			v, err := e.vault()
			if err != nil {
				return err
			}
			k, secret, err := apikeys.New(apikeys.Config{Tx: e.runner, Hasher: v}).Issue(c.Context(), nil, role, name)
			if err != nil {
				return err
			}
			fmt.Printf("Staff credential %s (%s, %s):\n\n  %s\n\nShown once; hand it over privately. Sign in at %s/signin.\n"+
				"Revoke it with: coalitionctl staff revoke %s\n", k.ID, k.Role, k.Name, secret, url, k.ID)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "", "finance or operator")
	add.Flags().StringVar(&name, "name", "", "the person or team it is for")
	add.Flags().StringVar(&url, "url", "https://127.0.0.1:8080", "where the web pages are served")
	list := &cobra.Command{
		Use:   "list",
		Short: "List staff credentials (never the credentials themselves)",
		RunE: func(c *cobra.Command, _ []string) error {
			ks, err := apikeys.New(apikeys.Config{Tx: e.runner}).List(c.Context())
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "ID\tROLE\tNAME\tCREATED\tSTATE")
			for _, k := range ks {
				if k.PartnerID != nil {
					continue
				}
				state := "active"
				if k.RevokedAt != nil {
					state = "revoked " + k.RevokedAt.Format(time.RFC3339)
				} else if k.ExpiresAt != nil {
					state = "expires " + k.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Name, k.CreatedAt.Format(time.RFC3339), state)
			}
			return w.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a staff credential; its web sessions end at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return err
			}
			if err := apikeys.New(apikeys.Config{Tx: e.runner}).Revoke(c.Context(), id); err != nil {
				return err
			}
			fmt.Println("revoked", id)
			return nil
		},
	}
	cmd.AddCommand(add, list, revoke)
	return cmd
}
