package finance

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// Directions of an instruction, as seen from the operator's settlement
// account.
const (
	Pay     = "pay"     // the operator pays the partner
	Collect = "collect" // the partner pays the operator
	None    = "none"    // the period's net is zero: nothing moves
)

// Instruction is what one partner and the operator's settlement account
// settle for one payment period: the partner's nets of the period's
// cleared windows, plus the approved money adjustments it carries.
type Instruction struct {
	EndToEndID      string
	Party           string
	Direction       string
	Minor           int64 // > 0 unless Direction is None
	Currency        string
	From, To        time.Time
	Due             time.Time
	ReportsMinor    int64 // the period's nets, signed: + owed to the partner
	AdjustmentMinor int64 // approved money adjustments, signed likewise
	CreatedAt       time.Time
	// FiledIn is the payment file that carries the operator's payment.
	FiledIn string
}

// MakeInstructions makes the instructions of every payment period that has
// ended and whose windows are all cleared, for every partner, by each
// partner's confirmed terms (daily, 2 days, without them). A period is
// made once, whoever runs this and however often: the next period of a
// partner starts the day after its last. It returns what it made.
func (f *Finance) MakeInstructions(ctx context.Context) ([]Instruction, error) {
	loc, err := f.clearing.Zone(ctx)
	if err != nil {
		return nil, err
	}
	today := dayOf(f.now().In(loc))
	reports := newNets(f.clearing)
	var made []Instruction
	err = f.tx.Write(ctx, func(tx pgx.Tx) error {
		made = made[:0]
		if _, err := tx.Exec(ctx, `SELECT id FROM payment_runs_lock WHERE id = 1 FOR UPDATE`); err != nil {
			return err
		}
		windows, err := readWindows(ctx, tx)
		if err != nil || len(windows.cleared) == 0 {
			return err
		}
		currency, err := reports.currency(ctx, windows.cleared[0])
		if err != nil {
			return err
		}
		terms, err := confirmedAccounts(ctx, tx)
		if err != nil {
			return err
		}
		parties, err := readParties(ctx, tx)
		if err != nil {
			return err
		}
		adjustments, err := unclaimedAdjustments(ctx, tx)
		if err != nil {
			return err
		}
		for _, p := range parties {
			freq, days := DefaultFrequency, DefaultPaymentDays
			if a, ok := terms[p.code]; ok {
				freq, days = a.Frequency, a.PaymentDays
			}
			// A partner's periods start with the first report that lists
			// it, and then follow one another without a gap.
			var cursor time.Time
			switch {
			case p.last != nil:
				cursor = p.last.AddDate(0, 0, 1)
			case p.first != nil:
				cursor = *p.first
			default:
				continue // in no cleared report yet
			}
			for {
				from, to := period(freq, cursor)
				from = later(from, cursor)
				if !to.Before(today) || windows.unclearedWithin(from, to) {
					break
				}
				in := Instruction{Party: p.code, Currency: currency, From: from, To: to,
					Due: to.AddDate(0, 0, days), CreatedAt: f.now()}
				for _, d := range windows.clearedWithin(from, to) {
					n, err := reports.net(ctx, d, p.code)
					if err != nil {
						return err
					}
					in.ReportsMinor += n
				}
				var claimed []uuid.UUID
				for _, a := range adjustments {
					if leg := a.leg(p.code); leg != 0 {
						in.AdjustmentMinor += leg
						claimed = append(claimed, a.id)
					}
				}
				net := in.ReportsMinor + in.AdjustmentMinor
				in.Direction, in.Minor = None, 0
				payer, payee := p.code, clearing.Operator
				switch {
				case net > 0:
					in.Direction, in.Minor, payer, payee = Pay, net, clearing.Operator, p.code
				case net < 0:
					in.Direction, in.Minor = Collect, -net
				}
				in.EndToEndID = payments.EndToEndID(payments.DateOf(from), payments.DateOf(to), payer, payee)
				if _, err := tx.Exec(ctx, `
					INSERT INTO payment_instructions (end_to_end_id, party, direction, amount_minor, currency,
					       period_from, period_to, due_date, reports_minor, adjustment_minor, created_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
					in.EndToEndID, in.Party, in.Direction, in.Minor, in.Currency, in.From, in.To, in.Due,
					in.ReportsMinor, in.AdjustmentMinor, in.CreatedAt); err != nil {
					return fmt.Errorf("instruction %s: %w", in.EndToEndID, err)
				}
				if len(claimed) > 0 {
					if err := claimAdjustments(ctx, tx, p.code, in.EndToEndID, claimed); err != nil {
						return err
					}
					adjustments = slices.DeleteFunc(adjustments, func(a *moneyAdjustment) bool { return a.settled() })
				}
				made = append(made, in)
				cursor = to.AddDate(0, 0, 1)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("make payment instructions: %w", err)
	}
	return made, nil
}

// InstructionFilter selects instructions; zero fields select all.
type InstructionFilter struct {
	Party           string
	DueFrom, DueTo  time.Time
	EndToEndIDs     []string
	WithZeroPeriods bool // the periods whose net is zero, too
	// Unfiled selects the operator's payments that no payment file
	// carries; FiledIn those of one file.
	Unfiled bool
	FiledIn string
}

// Instructions lists instructions by due date, then party.
func (f *Finance) Instructions(ctx context.Context, flt InstructionFilter) ([]Instruction, error) {
	var out []Instruction
	err := f.tx.Read(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = queryInstructions(ctx, tx, flt, false)
		return err
	})
	return out, err
}

// queryInstructions reads the instructions flt selects, locked FOR UPDATE
// if lock.
func queryInstructions(ctx context.Context, tx pgx.Tx, flt InstructionFilter, lock bool) ([]Instruction, error) {
	var from, to *time.Time
	if !flt.DueFrom.IsZero() {
		from = &flt.DueFrom
	}
	if !flt.DueTo.IsZero() {
		to = &flt.DueTo
	}
	forUpdate := ""
	if lock {
		forUpdate = " FOR UPDATE"
	}
	rows, err := tx.Query(ctx, `
		SELECT end_to_end_id, party, direction, amount_minor, currency, period_from, period_to, due_date,
		       reports_minor, adjustment_minor, created_at, COALESCE(filed_in, '')
		FROM payment_instructions
		WHERE ($1 = '' OR party = $1)
		  AND ($2::date IS NULL OR due_date >= $2)
		  AND ($3::date IS NULL OR due_date <= $3)
		  AND (COALESCE(cardinality($4::text[]), 0) = 0 OR end_to_end_id = ANY ($4))
		  AND ($5 OR direction <> 'none')
		  AND (NOT $6 OR (direction = 'pay' AND filed_in IS NULL))
		  AND ($7 = '' OR filed_in = $7)
		ORDER BY due_date, party, period_from`+forUpdate,
		flt.Party, from, to, flt.EndToEndIDs, flt.WithZeroPeriods, flt.Unfiled, flt.FiledIn)
	if err != nil {
		return nil, fmt.Errorf("payment instructions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instruction, error) {
		var in Instruction
		err := r.Scan(&in.EndToEndID, &in.Party, &in.Direction, &in.Minor, &in.Currency, &in.From, &in.To, &in.Due,
			&in.ReportsMinor, &in.AdjustmentMinor, &in.CreatedAt, &in.FiledIn)
		return in, err
	})
	if err != nil {
		return nil, fmt.Errorf("payment instructions: %w", err)
	}
	return out, nil
}

// windowDates are the settlement windows by whether they are cleared.
type windowDates struct {
	cleared, uncleared []time.Time // ascending
}

func readWindows(ctx context.Context, tx pgx.Tx) (windowDates, error) {
	var w windowDates
	rows, err := tx.Query(ctx, `
		SELECT w.business_date, r.business_date IS NOT NULL
		FROM settlement_windows AS w LEFT JOIN clearing_reports AS r ON r.business_date = w.business_date
		ORDER BY w.business_date`)
	if err != nil {
		return w, fmt.Errorf("windows: %w", err)
	}
	var d time.Time
	var cleared bool
	_, err = pgx.ForEachRow(rows, []any{&d, &cleared}, func() error {
		if cleared {
			w.cleared = append(w.cleared, d)
		} else {
			w.uncleared = append(w.uncleared, d)
		}
		return nil
	})
	if err != nil {
		return w, fmt.Errorf("windows: %w", err)
	}
	return w, nil
}

func within(ds []time.Time, from, to time.Time) []time.Time {
	i, _ := slices.BinarySearchFunc(ds, from, time.Time.Compare)
	j, _ := slices.BinarySearchFunc(ds, to.AddDate(0, 0, 1), time.Time.Compare)
	return ds[i:j]
}

func (w windowDates) clearedWithin(from, to time.Time) []time.Time {
	return within(w.cleared, from, to)
}
func (w windowDates) unclearedWithin(from, to time.Time) bool {
	return len(within(w.uncleared, from, to)) > 0
}

type party struct {
	code  string
	first *time.Time // the first cleared window whose report has it
	last  *time.Time // the end of its last period made
}

func readParties(ctx context.Context, tx pgx.Tx) ([]party, error) {
	rows, err := tx.Query(ctx, `
		SELECT p.code,
		       (SELECT min(l.business_date) FROM partner_liabilities AS l WHERE l.partner_id = p.id),
		       (SELECT max(i.period_to) FROM payment_instructions AS i WHERE i.party = p.code)
		FROM partners AS p WHERE p.kind <> 'operator' ORDER BY p.code`)
	if err != nil {
		return nil, fmt.Errorf("partners: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (party, error) {
		var p party
		err := r.Scan(&p.code, &p.first, &p.last)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("partners: %w", err)
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// dayOf is t's calendar day, as it reads in t's own location, at midnight
// UTC: the form of the clearing's business dates.
func dayOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// nets reads the parties' nets from the stored reports, each report once.
type nets struct {
	c     *clearing.Clearing
	byDay map[time.Time]clearing.Report
}

func newNets(c *clearing.Clearing) *nets { return &nets{c: c, byDay: map[time.Time]clearing.Report{}} }

func (n *nets) report(ctx context.Context, day time.Time) (clearing.Report, error) {
	if r, ok := n.byDay[day]; ok {
		return r, nil
	}
	b, err := n.c.Stored(ctx, day)
	if err != nil {
		return clearing.Report{}, err
	}
	r, err := clearing.Decode(b)
	if err != nil {
		return clearing.Report{}, err
	}
	n.byDay[day] = r
	return r, nil
}

func (n *nets) currency(ctx context.Context, day time.Time) (string, error) {
	r, err := n.report(ctx, day)
	return r.Currency, err
}

func (n *nets) net(ctx context.Context, day time.Time, party string) (int64, error) {
	r, err := n.report(ctx, day)
	if err != nil {
		return 0, err
	}
	for _, x := range r.Nets {
		if x.Party == party {
			return x.Net, nil
		}
	}
	return 0, nil
}
