package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// money shows minor units as major.minor, for people; exports keep minor units.
func money(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

func settlementCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "settlement", Short: "Settlement windows and clearing reports, for finance"}
	clr := func() *clearing.Clearing { return clearing.New(clearing.Config{Tx: e.runner}) }
	// A business day: YYYY-MM-DD, today or yesterday in the coalition's
	// time zone.
	date := func(c *cobra.Command, s string) (time.Time, error) { return clr().BusinessDate(c.Context(), s) }
	load := func(c *cobra.Command, day string) (clearing.Report, error) {
		d, err := date(c, day)
		if err != nil {
			return clearing.Report{}, err
		}
		b, err := clr().Stored(c.Context(), d)
		if err != nil {
			return clearing.Report{}, err
		}
		return clearing.Decode(b)
	}
	windows := &cobra.Command{
		Use:   "windows",
		Short: "List settlement windows, newest first",
		RunE: func(c *cobra.Command, _ []string) error {
			ws, err := clr().Windows(c.Context(), 60)
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "BUSINESS DAY\tSTATUS\tREPORT")
			for _, x := range ws {
				report := "-"
				if x.Cleared {
					report = "final"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", x.BusinessDate.Format(time.DateOnly), x.Status, report)
			}
			return w.Flush()
		},
	}
	var partner string
	var asJSON bool
	report := &cobra.Command{
		Use:   "report DATE",
		Short: "Show a cleared window's report (or one partner's statement); DATE is YYYY-MM-DD, today or yesterday",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if asJSON && partner == "" {
				d, err := date(c, args[0])
				if err != nil {
					return err
				}
				b, err := clr().Stored(c.Context(), d)
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(b)
				return err
			}
			r, err := load(c, args[0])
			if err != nil {
				return err
			}
			if partner != "" {
				r = r.For(partner)
			}
			if asJSON {
				return printJSON(r)
			}
			printReport(r)
			return nil
		},
	}
	report.Flags().StringVar(&partner, "partner", "", "show only this partner's statement")
	report.Flags().BoolVar(&asJSON, "json", false, "print the report as stored (JSON)")
	var out string
	export := &cobra.Command{
		Use:   "export DATE",
		Short: "Export a cleared window's report as CSV; DATE is YYYY-MM-DD, today or yesterday",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			r, err := load(c, args[0])
			if err != nil {
				return err
			}
			if partner != "" {
				r = r.For(partner)
			}
			w := os.Stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			return r.WriteCSV(w)
		},
	}
	export.Flags().StringVarP(&out, "output", "o", "-", "file to write, - for standard output")
	export.Flags().StringVar(&partner, "partner", "", "export only this partner's statement")
	drill := &cobra.Command{
		Use:   "drill DATE LINE",
		Short: "List the ledger transactions behind a report line (F1, X2, I1, B1 …), at their times in the coalition's zone",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := date(c, args[0])
			if err != nil {
				return err
			}
			line, posts, err := clr().DrillDown(c.Context(), d, args[1], partner)
			if err != nil {
				return err
			}
			loc, err := clr().Zone(c.Context())
			if err != nil {
				return err
			}
			fmt.Printf("%s %s %s %s → %s\n\n", line.ID, line.Section, line.Kind, line.Payer, line.Payee)
			w := table()
			fmt.Fprintln(w, "TRANSACTION\tKIND\tPARTNER\tORDER\tPOINTS\tAT")
			var total coalition.Points
			for _, p := range posts {
				total += p.Points
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", p.TransactionID, p.Kind, p.Partner, p.OrderID, p.Points, p.CreatedAt.In(loc).Format(time.RFC3339))
			}
			fmt.Fprintf(w, "\t\t\t\t%d\ttotal\n", total)
			return w.Flush()
		},
	}
	drill.Flags().StringVar(&partner, "partner", "", "line ids of this partner's statement")
	cmd.AddCommand(windows, report, export, drill)
	return cmd
}

func printReport(r clearing.Report) {
	fmt.Printf("Settlement report %s (%s, 1 point = %s)\n\n", r.BusinessDate, r.Currency, money(r.PointValueMinor))
	w := table()
	fmt.Fprintln(w, "NET POSITIONS\tRECEIVABLE\tPAYABLE\tNET")
	for _, n := range r.Nets {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n.Party, money(n.Receivable), money(n.Payable), money(n.Net))
	}
	fmt.Fprintln(w, "\nLINE\tFLOW (ISSUER → REDEEMER)\tKIND\tPOINTS\tAMOUNT")
	for _, l := range r.Lines() {
		switch l.Section {
		case clearing.SectionFlow:
			fmt.Fprintf(w, "%s\t%s → %s\t%s\t%d\t%s\n", l.ID, l.Payer, l.Payee, l.Kind, *l.Points, money(*l.Minor))
		case clearing.SectionFee:
			fmt.Fprintf(w, "%s\t%s → %s\tfee %s %s%% of %s\t\t%s\n", l.ID, l.Payer, l.Payee, l.Kind, bpPercent(*l.BP), money(*l.BaseMinor), money(*l.Minor))
		case clearing.SectionIssued, clearing.SectionBreakage, clearing.SectionLiability:
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t\n", l.ID, l.Payer, l.Kind, *l.Points)
		}
	}
	fmt.Fprintln(w, "\nPAYMENTS VIA THE OPERATOR\t\t\t\tAMOUNT")
	for _, p := range r.Hub {
		fmt.Fprintf(w, "\t%s → %s\t\t\t%s\n", p.From, p.To, money(p.Minor))
	}
	fmt.Fprintln(w, "\nDIRECT PAYMENTS (FEWEST)\t\t\t\tAMOUNT")
	for _, p := range r.Direct {
		fmt.Fprintf(w, "\t%s → %s\t\t\t%s\n", p.From, p.To, money(p.Minor))
	}
	w.Flush()
}

func bpPercent(bp int64) string {
	return strconv.FormatInt(bp/100, 10) + "." + fmt.Sprintf("%02d", bp%100)
}
