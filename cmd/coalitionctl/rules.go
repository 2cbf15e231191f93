package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition/rules"
)

func minorUnits(m int64) string { return fmt.Sprintf("%d.%02d", m/100, m%100) }

func rulesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "The loyalty rules: earn rules, tiers, promotions, referral (versioned)",
		Long: `A rule set is one JSON document: earn rules per partner, tiers, promotions and
the referral bonus. Each change is a new version that takes effect at its
effective_from (now if absent, never in the past); every accrual records the
version it used. See docs/RULES.md for the format.`}
	store := func() *rules.Store { return rules.NewStore(rules.StoreConfig{Tx: e.runner}) }
	var version int64
	var stored bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the rules in force (or --version N) as JSON, ready to edit and set",
		Long: `show prints the rules in force (or --version N) as JSON. It leaves out the
version and effective_from (it says on stderr which version it printed and
since when it is in force), so that what it prints is a file that check
accepts and set stores to take effect now: rules show > f; edit f; rules set f.
--stored prints them as stored, with both.`,
		RunE: func(c *cobra.Command, _ []string) error {
			var rs rules.RuleSet
			var err error
			if version > 0 {
				rs, err = store().Get(c.Context(), version)
			} else {
				rs, err = store().Current(c.Context())
			}
			if err != nil {
				return err
			}
			if rs.Version == 0 {
				fmt.Fprintln(os.Stderr, "no rule set stored: each partner earns at its onboarding rate")
			} else if !stored {
				fmt.Fprintf(os.Stderr, "rules version %d, in force from %s; printed without version and effective_from, to take effect when set\n",
					rs.Version, rs.EffectiveFrom.Format(time.RFC3339))
				rs = editable(rs)
			}
			out := json.NewEncoder(os.Stdout)
			out.SetIndent("", "  ")
			return out.Encode(rs)
		},
	}
	show.Flags().Int64Var(&version, "version", 0, "a stored version instead of the one in force")
	show.Flags().BoolVar(&stored, "stored", false, "print the version and effective_from too, as stored")
	versions := &cobra.Command{
		Use:   "versions",
		Short: "List the stored versions, newest first",
		RunE: func(c *cobra.Command, _ []string) error {
			list, err := store().List(c.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			w := table()
			fmt.Fprintln(w, "VERSION\tEFFECTIVE FROM\tSTORED\tNOTE")
			for _, v := range list {
				from := v.EffectiveFrom.Format(time.RFC3339)
				if v.EffectiveFrom.After(now) {
					from += " (scheduled)"
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", v.Version, from, v.CreatedAt.Format(time.RFC3339), v.Note)
			}
			return w.Flush()
		},
	}
	read := func(path string, from string) (rules.RuleSet, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return rules.RuleSet{}, err
		}
		rs, err := rules.Decode(data)
		if err != nil {
			return rs, err
		}
		if from != "" {
			if rs.EffectiveFrom, err = time.Parse(time.RFC3339, from); err != nil {
				return rs, fmt.Errorf("--from: %w", err)
			}
		}
		return rs, nil
	}
	var from string
	set := &cobra.Command{
		Use:   "set FILE",
		Short: "Store FILE as a new version (refused with the faulty field if invalid)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			rs, err := read(args[0], from)
			if err != nil {
				return err
			}
			stored, err := store().Put(c.Context(), rs)
			if err != nil {
				return err
			}
			fmt.Printf("rules version %d takes effect at %s\n", stored.Version, stored.EffectiveFrom.Format(time.RFC3339))
			return nil
		},
	}
	set.Flags().StringVar(&from, "from", "", "when the version takes effect (RFC 3339); default: the file's effective_from, or now")
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate FILE without storing it",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			rs, err := read(args[0], "")
			if err != nil {
				return err
			}
			inForce, err := store().Check(c.Context(), rs)
			if err != nil {
				return err
			}
			fmt.Printf("valid; version %d is in force now\n", inForce)
			return nil
		},
	}
	cmd.AddCommand(show, versions, set, check)
	return cmd
}

// editable is a stored rule set as a file to edit and set again: without
// its version (set assigns one) and its effective_from (in the past once it
// is in force, which set and check refuse; absent, it means now).
func editable(rs rules.RuleSet) rules.RuleSet {
	rs.Version, rs.EffectiveFrom = 0, time.Time{}
	return rs
}
