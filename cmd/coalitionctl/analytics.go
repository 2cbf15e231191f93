package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/analyticscsv"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
	"github.com/coalition-loyalty/coalition/settlement/analytics"
)

// analyticsTables are the tables --csv writes, as the web pages export them.
var analyticsTables = analyticscsv.Tables

func analyticsCmd(e *env) *cobra.Command {
	var partner, from, to, table string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "analytics --from DAY --to DAY [--partner CODE] [--csv TABLE | --json]",
		Short: "The network's or a partner's figures over a period, against the period before it",
		Long: `Figures over business days --from..--to (both included, at most 366
days), against the period of the same length just before, from the rollups
the daily job makes of cleared days: the network's, or one partner's with
--partner (small cells of other partners' customers suppressed, as the
partner's own page shows them).

Without --csv or --json it prints the figures with their change; --csv
writes one table (` + strings.Join(analyticsTables, ", ") + `) as the
pages export it.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if table != "" && !slices.Contains(analyticsTables, table) {
				return fmt.Errorf("--csv: no table %q (one of %s)", table, strings.Join(analyticsTables, ", "))
			}
			f, err := time.Parse(time.DateOnly, from)
			if err != nil {
				return fmt.Errorf("--from: %q is not a date (YYYY-MM-DD)", from)
			}
			t, err := time.Parse(time.DateOnly, to)
			if err != nil {
				return fmt.Errorf("--to: %q is not a date (YYYY-MM-DD)", to)
			}
			reg := partners.New(partners.Config{Tx: e.runner})
			ps, err := reg.List(c.Context())
			if err != nil {
				return err
			}
			codes := map[coalition.PartnerID]string{}
			for _, p := range ps {
				codes[p.ID] = p.Code
			}
			a := analytics.New(analytics.Config{Tx: e.runner})
			var r analytics.Report
			if partner == "" {
				r, err = a.Network(c.Context(), f, t)
			} else {
				p, perr := reg.ByCode(c.Context(), partner)
				if perr != nil {
					return perr
				}
				r, err = a.Partner(c.Context(), p.ID, f, t)
			}
			if err != nil {
				return err
			}
			res := rpc.AnalyticsResponse(r, codes)
			switch {
			case asJSON:
				b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(res)
				if err != nil {
					return err
				}
				_, err = fmt.Println(string(b))
				return err
			case table != "":
				header, rows := analyticscsv.Table(res, table)
				w := csv.NewWriter(os.Stdout)
				w.Write(header)
				w.WriteAll(rows)
				return w.Error()
			}
			scope := "network"
			if res.GetPartner() != "" {
				scope = res.GetPartner()
			}
			rolled := res.GetRolledUpTo()
			if rolled == "" {
				rolled = "no cleared day rolled up yet"
			}
			fmt.Printf("%s: %s..%s against %s..%s (rolled up to %s; money in %s minor units, shares in basis points)\n",
				scope, res.GetCurrent().GetFrom(), res.GetCurrent().GetTo(), res.GetPrevious().GetFrom(), res.GetPrevious().GetTo(),
				rolled, res.GetCurrency())
			header, rows := analyticscsv.Table(res, "figures")
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
			for _, row := range rows {
				fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&partner, "partner", "", "a partner's code for its view (default: the network's)")
	cmd.Flags().StringVar(&from, "from", "", "first business day of the period (YYYY-MM-DD)")
	cmd.Flags().StringVar(&to, "to", "", "last business day of the period (YYYY-MM-DD)")
	cmd.Flags().StringVar(&table, "csv", "", "write one table as CSV: "+strings.Join(analyticsTables, ", "))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole report as JSON, as the API returns it")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	return cmd
}
