package main

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

func apiKeysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "apikeys", Short: "API keys for REST clients (partners, finance and operator staff)"}
	store := func() (*apikeys.Store, error) {
		v, err := e.vault()
		if err != nil {
			return nil, err
		}
		return apikeys.New(apikeys.Config{Tx: e.runner, Hasher: v}), nil
	}
	var partner, role, name string
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Issue a key (--partner CODE, or --role finance|operator); the key is shown once",
		RunE: func(c *cobra.Command, _ []string) error {
			s, err := store()
			if err != nil {
				return err
			}
			var pid *coalition.PartnerID
			r := role
			if partner != "" {
				p, err := partners.New(partners.Config{Tx: e.runner}).ByCode(c.Context(), partner)
				if err != nil {
					return err
				}
				pid, r = &p.ID, "partner"
			}
			k, secret, err := s.Issue(c.Context(), pid, r, name)
			if err != nil {
				return err
			}
			fmt.Printf("API key %s (%s, %s):\n\n  %s\n\nShown once; send it as 'Authorization: Bearer <key>'.\n", k.ID, k.Role, k.Name, secret)
			return nil
		},
	}
	issue.Flags().StringVar(&partner, "partner", "", "the partner the key acts as")
	issue.Flags().StringVar(&role, "role", "", "finance or operator, for staff keys")
	issue.Flags().StringVar(&name, "name", "default", "what the key is for")
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never the keys themselves)",
		RunE: func(c *cobra.Command, _ []string) error {
			ks, err := apikeys.New(apikeys.Config{Tx: e.runner}).List(c.Context())
			if err != nil {
				return err
			}
			codes, err := partnerCodes(c.Context(), e.runner)
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "ID\tROLE\tPARTNER\tNAME\tCREATED\tEXPIRES\tREVOKED")
			opt := func(t *time.Time) string {
				if t == nil {
					return "-"
				}
				return t.Format(time.RFC3339)
			}
			for _, k := range ks {
				p := "-"
				if k.PartnerID != nil {
					p = codes.of(*k.PartnerID)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, p, k.Name, k.CreatedAt.Format(time.RFC3339), opt(k.ExpiresAt), opt(k.RevokedAt))
			}
			return w.Flush()
		},
	}
	var overlap time.Duration
	rotate := &cobra.Command{
		Use:   "rotate ID",
		Short: "Issue a replacement key; the old one keeps working for --overlap",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return err
			}
			s, err := store()
			if err != nil {
				return err
			}
			k, secret, err := s.Rotate(c.Context(), id, overlap)
			if err != nil {
				return err
			}
			fmt.Printf("new API key %s:\n\n  %s\n\nShown once. The old key %s stops working in %s.\n", k.ID, secret, id, overlap)
			return nil
		},
	}
	rotate.Flags().DurationVar(&overlap, "overlap", 24*time.Hour, "how long the old key keeps working")
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key (servers refuse it within a minute)",
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
	cmd.AddCommand(issue, list, rotate, revoke)
	return cmd
}
