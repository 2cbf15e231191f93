package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// offersCmd manages personal offers and their coupons, as the operator or,
// with --as-partner, as one partner (its own offers only, funded by it).
func offersCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "offers", Short: "Personal offers and their coupons: create, list, end; issue and list coupons"}
	var asPartner string
	cmd.PersistentFlags().StringVar(&asPartner, "as-partner", "", "act as this partner (its own offers only); default: the operator")
	store := func() *offers.Store { return offers.New(offers.Config{Tx: e.runner}) }
	actor := func(c *cobra.Command) (offers.Actor, error) {
		if asPartner == "" {
			return offers.Actor{Operator: true}, nil
		}
		p, err := partners.New(partners.Config{Tx: e.runner}).ByCode(c.Context(), asPartner)
		if err != nil {
			return offers.Actor{}, err
		}
		return offers.Actor{Partner: p.ID}, nil
	}

	var o offers.Offer
	var starts, ends, members string
	var bonus, budget int64
	create := &cobra.Command{
		Use:   "create CODE",
		Short: "Make an offer (idempotent by code): --name, --bonus-points and/or --multiplier-bp, --starts, --ends, --budget-points; --segment or --members, or neither for coupons only",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			a, err := actor(c)
			if err != nil {
				return err
			}
			o.Code, o.BonusPoints, o.BudgetPoints = args[0], coalition.Points(bonus), coalition.Points(budget)
			if o.Starts, err = parseWhen("starts", starts); err != nil {
				return err
			}
			if o.Ends, err = parseWhen("ends", ends); err != nil {
				return err
			}
			if members != "" {
				o.Members = strings.Split(members, ",")
			}
			made, err := store().Create(c.Context(), a, o)
			if err != nil {
				return err
			}
			fmt.Printf("offer %s (%s) of %s: %s, funded by %s, %s to %s, budget %d points\n", made.Code, made.Name, made.Owner,
				target(made), made.FundedBy, made.Starts.Format(time.RFC3339), made.Ends.Format(time.RFC3339), made.BudgetPoints)
			return nil
		},
	}
	create.Flags().StringVar(&o.Name, "name", "", "what members and receipts call it")
	create.Flags().StringVar(&o.Segment, "segment", "", "target a segment (its code)")
	create.Flags().StringVar(&members, "members", "", "target these card numbers (comma-separated)")
	create.Flags().Int64Var(&bonus, "bonus-points", 0, "fixed points on each matching purchase")
	create.Flags().Int64Var(&o.MultiplierBP, "multiplier-bp", 0, "extra points in basis points of the base points (10000: as many again)")
	create.Flags().StringSliceVar(&o.Partners, "partners", nil, "partners' codes where it applies (default: any; a partner's: its own)")
	create.Flags().StringSliceVar(&o.Categories, "categories", nil, "product categories it applies to (default: any)")
	create.Flags().Int64Var(&o.MinPurchaseMinor, "min-purchase-minor", 0, "smallest purchase it applies to, in minor units")
	create.Flags().StringVar(&starts, "starts", "", "start, RFC 3339 (e.g. 2026-03-01T00:00:00+03:00) or a date")
	create.Flags().StringVar(&ends, "ends", "", "end (excluded), RFC 3339 or a date")
	create.Flags().Int64Var(&budget, "budget-points", 0, "most points it gives in all")
	create.Flags().StringVar(&o.FundedBy, "funded-by", "", `"partner" (where bought), "operator" or a partner's code`)

	list := &cobra.Command{
		Use:   "list",
		Short: "List offers with the budget used and their coupons' uses",
		RunE: func(c *cobra.Command, _ []string) error {
			a, err := actor(c)
			if err != nil {
				return err
			}
			list, err := store().List(c.Context(), a)
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "CODE\tOWNER\tNAME\tTARGET\tGIVES\tFUNDED BY\tSTARTS\tENDS\tBUDGET USED\tCOUPONS\tUSES\tSTATE")
			for _, o := range list {
				state := "open"
				if o.EndedAt != nil {
					state = "ended"
				}
				gives := offers.Terms{BonusPoints: o.BonusPoints, MultiplierBP: o.MultiplierBP}.Gives()
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%s\n", o.Code, o.Owner, o.Name, target(o), gives, o.FundedBy,
					o.Starts.Format(time.DateOnly), o.Ends.Format(time.DateOnly), o.BudgetUsed, o.BudgetPoints, o.CouponsIssued, o.CouponUses, state)
			}
			return w.Flush()
		},
	}
	end := &cobra.Command{
		Use:   "end CODE",
		Short: "End an offer now: it no longer applies and its coupons are refused",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			a, err := actor(c)
			if err != nil {
				return err
			}
			o, err := store().End(c.Context(), a, args[0])
			if err != nil {
				return err
			}
			fmt.Printf("offer %s ended at %s\n", o.Code, o.EndedAt.Format(time.RFC3339))
			return nil
		},
	}

	coupons := &cobra.Command{Use: "coupons", Short: "Issue and list an offer's coupons"}
	var in offers.Issue
	issue := &cobra.Command{
		Use:   "issue OFFER",
		Short: "Issue --count coupons of --max-uses each (idempotent by --request-key); prints them as CSV",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			a, err := actor(c)
			if err != nil {
				return err
			}
			in.Offer = args[0]
			cs, err := store().IssueCoupons(c.Context(), a, in)
			if err != nil {
				return err
			}
			return couponsCSV(cs)
		},
	}
	issue.Flags().StringVar(&in.RequestKey, "request-key", "", "the same key returns the same coupons (required)")
	issue.Flags().IntVar(&in.Count, "count", 1, "how many codes")
	issue.Flags().IntVar(&in.MaxUses, "max-uses", 1, "uses of each code (1: single use)")
	issue.Flags().StringVar(&in.MemberCard, "member-card", "", "bind the coupons to this member's card")
	listCoupons := &cobra.Command{
		Use:   "list OFFER",
		Short: "List an offer's coupons with their uses, as CSV",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			a, err := actor(c)
			if err != nil {
				return err
			}
			cs, err := store().ListCoupons(c.Context(), a, args[0])
			if err != nil {
				return err
			}
			return couponsCSV(cs)
		},
	}
	coupons.AddCommand(issue, listCoupons)
	cmd.AddCommand(create, list, end, coupons)
	return cmd
}

func target(o offers.Offer) string {
	switch o.Target {
	case offers.TargetSegment:
		return "segment " + o.Segment
	case offers.TargetMembers:
		return fmt.Sprintf("%d members", o.MemberCount)
	}
	return "coupons"
}

// parseWhen reads an instant: RFC 3339, or a date (midnight UTC).
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("--%s is required", flag)
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: %q is neither RFC 3339 nor a date", flag, s)
	}
	return t, nil
}

// couponsCSV writes coupons as the CSV a print shop or a mailing takes.
func couponsCSV(cs []offers.Coupon) error {
	w := csv.NewWriter(os.Stdout)
	if err := w.Write([]string{"code", "offer", "member_card", "max_uses", "uses"}); err != nil {
		return err
	}
	for _, c := range cs {
		if err := w.Write([]string{offers.Printed(c.Code), c.Offer, c.MemberCard, fmt.Sprint(c.MaxUses), fmt.Sprint(c.Uses)}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
