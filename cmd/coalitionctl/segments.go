package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/segments"
)

func segmentsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "segments", Short: "Member segments: list with sizes, define, retire, compute",
		Long: `A segment is the coalition's (no --partner) or a partner's (--partner CODE, over
its own customers). Its definition is JSON (coalition/segments.Definition):
{"tiers":["gold"], "categories":["coffee"], "visited_partners":["cinema"],
 "min_partners_visited":2, "lapsed_days":60, "birthday_month":3,
 "recency":{"min":4,"max":5}, "frequency":{...}, "monetary":{...}}.
Sizes are computed by the daily job after clearing (or by "compute").`}
	var partner string
	cmd.PersistentFlags().StringVar(&partner, "partner", "", "the partner's segments (code); none: the coalition's")
	svc := func() *segments.Segments {
		return segments.New(segments.Config{Tx: e.runner, Tiers: segments.TiersOf(rules.NewStore(rules.StoreConfig{Tx: e.runner}))})
	}
	scopeOf := func(c *cobra.Command) (segments.Scope, error) {
		if partner == "" {
			return segments.Coalition, nil
		}
		p, err := partners.New(partners.Config{Tx: e.runner}).ByCode(c.Context(), partner)
		if err != nil {
			return segments.Scope{}, err
		}
		return segments.PartnerScope(p.ID), nil
	}
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List segments with their sizes (--all: every partner's too)",
		RunE: func(c *cobra.Command, _ []string) error {
			var which *segments.Scope
			if !all {
				s, err := scopeOf(c)
				if err != nil {
					return err
				}
				which = &s
			}
			segs, err := svc().List(c.Context(), which, false)
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "PARTNER\tCODE\tNAME\tAS OF\tSIZE\tSTATE")
			for _, s := range segs {
				asOf, state := "-", "live"
				if !s.AsOf.IsZero() {
					asOf = s.AsOf.Format(time.DateOnly)
				}
				if s.Retired {
					state = "retired"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", orDash(s.PartnerCode), s.Code, s.Name, asOf, s.Size, state)
			}
			return w.Flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "every segment, the coalition's and every partner's")
	var name, defFile string
	define := &cobra.Command{
		Use:   "define CODE --name NAME --definition FILE|-",
		Short: "Define or redefine a segment (the same definition again changes nothing)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var data []byte
			var err error
			if defFile == "-" {
				data, err = io.ReadAll(os.Stdin)
			} else {
				data, err = os.ReadFile(defFile)
			}
			if err != nil {
				return err
			}
			var d segments.Definition
			dec := json.NewDecoder(strings.NewReader(string(data)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				return fmt.Errorf("definition: %w", err)
			}
			scope, err := scopeOf(c)
			if err != nil {
				return err
			}
			s, err := svc().Define(c.Context(), scope, args[0], name, d)
			if err != nil {
				return err
			}
			if s.AsOf.IsZero() {
				fmt.Printf("defined %s; its size is computed after the next cleared day\n", s.Code)
				return nil
			}
			fmt.Printf("defined %s: %d members as of %s\n", s.Code, s.Size, s.AsOf.Format(time.DateOnly))
			return nil
		},
	}
	define.Flags().StringVar(&name, "name", "", "the segment's name, for people")
	define.Flags().StringVar(&defFile, "definition", "-", "a JSON file of the conditions (- for stdin)")
	retire := &cobra.Command{
		Use:     "delete CODE",
		Aliases: []string{"retire"},
		Short:   "Retire a segment: it keeps its code, loses its members",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			scope, err := scopeOf(c)
			if err != nil {
				return err
			}
			s, err := svc().Retire(c.Context(), scope, args[0])
			if err != nil {
				return err
			}
			fmt.Printf("retired %s\n", s.Code)
			return nil
		},
	}
	compute := &cobra.Command{
		Use:   "compute",
		Short: "Compute RFM scores and segments as of the last cleared day now (the daily job does it)",
		RunE: func(c *cobra.Command, _ []string) error {
			d, ok, err := svc().ComputeDue(c.Context())
			if err != nil {
				return err
			}
			if !ok {
				fmt.Println("nothing due: the last cleared day is computed, or none is cleared")
				return nil
			}
			fmt.Printf("computed as of %s\n", d.Format(time.DateOnly))
			return nil
		},
	}
	cmd.AddCommand(list, define, retire, compute)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
