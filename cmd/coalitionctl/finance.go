package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

func financeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "finance", Short: "Banking details, payment files, bank statements, adjustments and the month-end liability",
		Long: `Finance operations. A change that moves money takes two people: one
proposes it, another confirms (banking details) or approves (adjustments).
coalitionctl names the person by --as (default: the login name).`}
	var as string
	cmd.PersistentFlags().StringVar(&as, "as", "", "the person acting, for the four eyes (default: the login name)")
	person := func() finance.Actor {
		name := as
		if name == "" {
			if u, err := user.Current(); err == nil {
				name = u.Username
			}
		}
		return finance.Actor{ID: finance.StaffID(name), Name: name}
	}
	fin := func() (*finance.Finance, error) {
		l := ledger.New(ledger.Config{Tx: e.runner, Lanes: -1})
		return finance.New(finance.Config{Tx: e.runner, Clearing: clearing.New(clearing.Config{Tx: e.runner}), Ledger: l}), nil
	}
	day := func(s string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return d, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
		}
		return d, nil
	}
	id := func(s string) (uuid.UUID, error) {
		u, err := uuid.Parse(s)
		if err != nil {
			return u, fmt.Errorf("%q is not an id", s)
		}
		return u, nil
	}

	accounts := &cobra.Command{
		Use: "accounts [PARTY]", Short: "List every version of the parties' banking details and terms", Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f, _ := fin()
			as, err := f.Accounts(c.Context(), strings.Join(args, ""))
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "ID\tPARTY\tSTATUS\tHOLDER\tACCOUNT\tBIC\tCCY\tTERMS\tPROPOSED BY\tDECIDED BY")
			for _, a := range as {
				decided := "-"
				if a.DecidedBy != nil {
					decided = a.DecidedBy.Name
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s +%dd\t%s\t%s\n", a.ID, a.Party, a.Status, a.LegalName,
					a.IBAN+a.AccountNumber, a.BIC, a.Currency, a.Frequency, a.PaymentDays, a.ProposedBy.Name, decided)
			}
			return w.Flush()
		},
	}
	var acct finance.BankAccount
	var freq string
	proposeAccount := &cobra.Command{
		Use: "propose-account", Short: "Propose a party's banking details and payment terms (another person confirms)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, _ := fin()
			acct.Frequency = finance.Frequency(freq)
			a, err := f.ProposeAccount(c.Context(), person(), acct)
			if err != nil {
				return err
			}
			fmt.Printf("proposed %s for %s: another person confirms it with coalitionctl finance confirm-account %s\n", a.ID, a.Party, a.ID)
			return nil
		},
	}
	pf := proposeAccount.Flags()
	pf.StringVar(&acct.Party, "party", "", "a partner's code, or operator for the settlement account")
	pf.StringVar(&acct.LegalName, "legal-name", "", "the account holder's legal name")
	pf.StringVar(&acct.IBAN, "iban", "", "IBAN")
	pf.StringVar(&acct.AccountNumber, "account", "", "account number, for a bank without IBANs (then --bic)")
	pf.StringVar(&acct.BIC, "bic", "", "BIC of the account's bank")
	pf.StringVar(&acct.Currency, "currency", "", "ISO 4217 currency of the account")
	pf.StringVar(&freq, "frequency", "daily", "how often the party's net is paid: daily, weekly or monthly")
	pf.IntVar(&acct.PaymentDays, "days", finance.DefaultPaymentDays, "payment is due this many days after the period ends")
	decideAccount := func(use string, confirm bool) *cobra.Command {
		return &cobra.Command{Use: use + " ID", Short: "Decide proposed banking details: " + use, Args: cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				u, err := id(args[0])
				if err != nil {
					return err
				}
				f, _ := fin()
				a, err := f.DecideAccount(c.Context(), person(), u, confirm)
				if err != nil {
					return err
				}
				fmt.Printf("%s: %s\n", a.ID, a.Status)
				return nil
			}}
	}

	printInstructions := func(outcomes []finance.Outcome) error {
		w := table()
		fmt.Fprintln(w, "END-TO-END ID\tPARTY\tDIRECTION\tAMOUNT\tPERIOD\tDUE\tSTATUS\tPAID\tOUTSTANDING")
		for _, o := range outcomes {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s %s\t%s..%s\t%s\t%s\t%s\t%s\n", o.EndToEndID, o.Party, o.Direction, money(o.Minor), o.Currency,
				o.From.Format(time.DateOnly), o.To.Format(time.DateOnly), o.Due.Format(time.DateOnly), o.Status,
				money(o.PaidMinor), money(o.OutstandingMinor))
		}
		return w.Flush()
	}
	makeInstructions := &cobra.Command{
		Use: "make-instructions", Short: "Make the payment instructions of every ended payment period whose windows are cleared", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, _ := fin()
			made, err := f.MakeInstructions(c.Context())
			if err != nil {
				return err
			}
			fmt.Printf("made %d instructions\n", len(made))
			return nil
		},
	}
	var party, asOf string
	instructions := &cobra.Command{
		Use: "instructions", Short: "List payment instructions and where each stands against the statements", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, _ := fin()
			d, err := day(asOf)
			if err != nil {
				return err
			}
			if d.IsZero() {
				if d, err = f.Today(c.Context()); err != nil {
					return err
				}
			}
			r, err := f.Reconcile(c.Context(), party, d)
			if err != nil {
				return err
			}
			return printInstructions(r.Outcomes)
		},
	}
	instructions.Flags().StringVar(&party, "party", "", "one partner's")
	instructions.Flags().StringVar(&asOf, "as-of", "", "the day to age on (default: today)")
	var dueFrom, dueTo string
	filePayments := &cobra.Command{
		Use: "file-payments", Short: "Make a payment file of the operator's payments no file carries yet", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, _ := fin()
			from, err := day(dueFrom)
			if err != nil {
				return err
			}
			to, err := day(dueTo)
			if err != nil {
				return err
			}
			file, held, err := f.FilePayments(c.Context(), person(), finance.InstructionFilter{DueFrom: from, DueTo: to})
			for _, h := range held {
				fmt.Fprintf(os.Stderr, "held %s (%s %s): %s\n", h.Instruction.EndToEndID, money(h.Instruction.Minor), h.Instruction.Currency, h.Reason)
			}
			if err != nil {
				return err
			}
			fmt.Printf("payment file %s: %d payments, %s %s; download it with coalitionctl finance payment-file %s\n",
				file.ID, file.Payments, money(file.TotalMinor), file.Currency, file.ID)
			return nil
		},
	}
	filePayments.Flags().StringVar(&dueFrom, "due-from", "", "payments due on or after (YYYY-MM-DD)")
	filePayments.Flags().StringVar(&dueTo, "due-to", "", "payments due on or before (YYYY-MM-DD)")
	paymentFiles := &cobra.Command{
		Use: "payment-files", Short: "List the payment files made, and the payments no file carries yet", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, _ := fin()
			files, err := f.PaymentFiles(c.Context(), 100)
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "FILE	MADE	BY	PAYMENTS	TOTAL")
			for _, p := range files {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s %s\n", p.ID, p.CreatedAt.Format(time.RFC3339), p.CreatedBy.Name, p.Payments,
					money(p.TotalMinor), p.Currency)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			unfiled, err := f.Unfiled(c.Context())
			if err != nil {
				return err
			}
			fmt.Printf("\nNot filed yet:\n")
			w = table()
			fmt.Fprintln(w, "END-TO-END ID	PARTY	AMOUNT	HELD BECAUSE")
			for _, h := range unfiled {
				fmt.Fprintf(w, "%s\t%s\t%s %s\t%s\n", h.Instruction.EndToEndID, h.Instruction.Party, money(h.Instruction.Minor),
					h.Instruction.Currency, h.Reason)
			}
			return w.Flush()
		},
	}
	var format string
	paymentFile := &cobra.Command{
		Use: "payment-file ID", Short: "Write a payment file, as made, to standard output (pain.001, or --format csv)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			f, _ := fin()
			_, data, err := f.PaymentFileData(c.Context(), args[0], format)
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(data)
			return err
		},
	}
	paymentFile.Flags().StringVar(&format, "format", finance.Pain001, "pain.001 or csv")
	var stmtFormat string
	importStatement := &cobra.Command{
		Use: "import-statement FILE", Short: "Import a statement of the settlement account (camt.053, camt.054 or CSV)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			f, _ := fin()
			r, err := f.ImportStatement(c.Context(), person(), stmtFormat, data)
			if err != nil {
				return err
			}
			fmt.Printf("%d lines: %d new, %d imported before\n", r.Lines, r.Added, r.Duplicates)
			return nil
		},
	}
	importStatement.Flags().StringVar(&stmtFormat, "format", finance.Camt, "camt or csv")
	reconciliation := &cobra.Command{
		Use: "reconciliation", Short: "Instructions against the statements, unmatched lines and ageing", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, _ := fin()
			d, err := day(asOf)
			if err != nil {
				return err
			}
			if d.IsZero() {
				if d, err = f.Today(c.Context()); err != nil {
					return err
				}
			}
			r, err := f.Reconcile(c.Context(), "", d)
			if err != nil {
				return err
			}
			if err := printInstructions(r.Outcomes); err != nil {
				return err
			}
			fmt.Printf("\nUnmatched lines (resolve with coalitionctl finance resolve):\n")
			w := table()
			fmt.Fprintln(w, "LINE\tBOOKED\tAMOUNT\tDIRECTION\tEND-TO-END ID\tREFERENCE\tWHY")
			for _, l := range r.Unmatched {
				fmt.Fprintf(w, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", l.ID, l.BookingDate.Format(time.DateOnly), money(l.Minor), l.Currency,
					l.Direction, l.EndToEndID, l.Reference, l.Reason)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Printf("\nOutstanding on %s, by days overdue:\n", d.Format(time.DateOnly))
			w = table()
			fmt.Fprintln(w, "PARTY\tSIDE\tNOT DUE\t1-30\t31-60\t61-90\tOVER 90")
			for _, a := range r.Ageing {
				side := "owes us"
				if a.Direction == "DBIT" {
					side = "we owe"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Counterparty, side, money(a.NotDue), money(a.Days1To30),
					money(a.Days31To60), money(a.Days61To90), money(a.Over90))
			}
			return w.Flush()
		},
	}
	reconciliation.Flags().StringVar(&asOf, "as-of", "", "the day to age on (default: today)")
	var assign, note string
	resolve := &cobra.Command{
		Use: "resolve LINE", Short: "Assign an unmatched statement line to an instruction (--assign), or set it aside (--note)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			u, err := id(args[0])
			if err != nil {
				return err
			}
			f, _ := fin()
			if _, err := f.ResolveLine(c.Context(), person(), u, assign, note); err != nil {
				return err
			}
			fmt.Println("resolved")
			return nil
		},
	}
	resolve.Flags().StringVar(&assign, "assign", "", "the end-to-end id of the instruction the line pays")
	resolve.Flags().StringVar(&note, "note", "", "what the line is")

	var adj finance.Adjustment
	var member, window string
	var points int64
	propose := func(kind string) *cobra.Command {
		c := &cobra.Command{Use: "propose-" + kind, Short: "Propose a " + kind + " adjustment (another person approves it)", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				a := adj
				a.Kind = kind
				if kind == finance.PointsAdjustment {
					m, err := coalition.ParseMemberID(member)
					if err != nil {
						return errors.New("--member: not a member id")
					}
					a.Member, a.Points = m, coalition.Points(points)
				} else {
					d, err := day(window)
					if err != nil {
						return err
					}
					a.BusinessDate = d
				}
				f, _ := fin()
				a, err := f.ProposeAdjustment(c.Context(), person(), a)
				if err != nil {
					return err
				}
				fmt.Printf("proposed %s: another person approves it with coalitionctl finance approve %s\n", a.ID, a.ID)
				return nil
			}}
		fl := c.Flags()
		fl.StringVar(&adj.Reason, "reason", "", "why (shown with the posting in clearing and drill-down)")
		if kind == finance.PointsAdjustment {
			fl.StringVar(&member, "member", "", "the member's id")
			fl.Int64Var(&points, "points", 0, "points to give")
			fl.StringVar(&adj.Funder, "funder", "", "who pays for them: a partner's code, or operator")
		} else {
			fl.StringVar(&adj.Payer, "payer", "", "who pays: a partner's code, or operator")
			fl.StringVar(&adj.Payee, "payee", "", "who is paid")
			fl.Int64Var(&adj.Minor, "amount-minor", 0, "amount in minor units")
			fl.StringVar(&window, "window", "", "the cleared window it corrects (YYYY-MM-DD)")
		}
		return c
	}
	decide := func(use string, approve bool) *cobra.Command {
		c := &cobra.Command{Use: use + " ID", Short: use + " a proposed adjustment", Args: cobra.ExactArgs(1),
			RunE: func(c *cobra.Command, args []string) error {
				u, err := id(args[0])
				if err != nil {
					return err
				}
				f, _ := fin()
				a, err := f.DecideAdjustment(c.Context(), person(), u, approve, note)
				if err != nil {
					return err
				}
				fmt.Printf("%s: %s\n", a.ID, a.Status)
				return nil
			}}
		c.Flags().StringVar(&note, "note", "", "a note on the decision")
		return c
	}
	var status string
	adjustments := &cobra.Command{
		Use: "adjustments", Short: "List adjustments, newest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			f, _ := fin()
			as, err := f.Adjustments(c.Context(), status, 200)
			if err != nil {
				return err
			}
			w := table()
			fmt.Fprintln(w, "ID\tSTATUS\tWHAT\tREASON\tPROPOSED BY\tDECIDED BY")
			for _, a := range as {
				what := fmt.Sprintf("%d points to %s, funded by %s", a.Points, a.Member, a.Funder)
				if a.Kind == finance.MoneyAdjustment {
					what = fmt.Sprintf("%s from %s to %s for %s", money(a.Minor), a.Payer, a.Payee, a.BusinessDate.Format(time.DateOnly))
				}
				decided := "-"
				if a.DecidedBy != nil {
					decided = a.DecidedBy.Name
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Status, what, a.Reason, a.ProposedBy.Name, decided)
			}
			return w.Flush()
		},
	}
	adjustments.Flags().StringVar(&status, "status", "", "proposed, approved or rejected")
	var asCSV bool
	liability := &cobra.Command{
		Use: "liability MONTH", Short: "The points liability of a month (YYYY-MM): roll-forward, ageing by expiry, breakage", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, err := time.Parse("2006-01", args[0])
			if err != nil {
				return fmt.Errorf("%q is not a month (YYYY-MM)", args[0])
			}
			f, _ := fin()
			s, err := f.MonthEnd(c.Context(), m)
			if err != nil {
				return err
			}
			if asCSV {
				return s.WriteCSV(os.Stdout)
			}
			w := table()
			fmt.Fprintln(w, "ISSUER\tOPENING\tISSUED\tBURNED\tDEBT PAID\tCLAWED BACK\tEXPIRED\tCLOSING\tVALUE\tBREAKAGE")
			for _, l := range append(s.Issuers, s.Network) {
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s %s\t%d.%02d%%\n", l.Issuer, l.Opening, l.Issued, l.Burned, l.DebtPaid,
					l.ClawedBack, l.Expired, l.Closing, money(l.ClosingMinor), s.Currency, l.BreakageBP/100, l.BreakageBP%100)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if !s.Final {
				fmt.Println("\nnot final: a window of the month is not cleared yet")
			}
			return nil
		},
	}
	liability.Flags().BoolVar(&asCSV, "csv", false, "write CSV")
	cmd.AddCommand(accounts, proposeAccount, decideAccount("confirm-account", true), decideAccount("reject-account", false),
		makeInstructions, instructions, filePayments, paymentFiles, paymentFile, importStatement, reconciliation, resolve,
		propose(finance.PointsAdjustment), propose(finance.MoneyAdjustment), decide("approve", true), decide("reject", false),
		adjustments, liability)
	return cmd
}
