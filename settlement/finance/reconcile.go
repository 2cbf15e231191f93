package finance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// Statement formats.
const (
	// Camt is an ISO 20022 camt.053 statement or camt.054 notification
	// (versions 001.02 to 001.10).
	Camt = "camt"
	// StatementCSV is the CSV of payments.StatementCSVHeader.
	StatementCSV = "csv"
)

// ImportResult says what an import added.
type ImportResult struct {
	Lines      int // booked lines in the file
	Added      int // new ones
	Duplicates int // already imported (by the bank's reference, or content)
}

// ImportStatement records the booked lines of a statement of the
// operator's settlement account. Importing a statement again, or a
// notification of an entry that a statement also reports, adds nothing.
func (f *Finance) ImportStatement(ctx context.Context, by Actor, format string, data []byte) (ImportResult, error) {
	if err := checkActor(by); err != nil {
		return ImportResult{}, err
	}
	var lines []payments.StatementLine
	var err error
	switch format {
	case Camt:
		lines, err = payments.ReadCamt(bytes.NewReader(data))
	case StatementCSV:
		lines, err = payments.ReadStatementCSV(bytes.NewReader(data))
	default:
		return ImportResult{}, coalition.Errorf(coalition.Invalid, "format", "must be %s or %s", Camt, StatementCSV)
	}
	if err != nil {
		if _, ok := coalition.AsError(err); ok {
			return ImportResult{}, err
		}
		return ImportResult{}, coalition.Errorf(coalition.Invalid, "content", "%v", err)
	}
	// A line the bank gives no reference is known by its content; the
	// second of two alike in one statement (two payments of the same sum
	// with the same text on one day) is a payment of its own, and keeps
	// its number among them, so that importing the file again still adds
	// nothing.
	keys := make([]string, len(lines))
	alike := map[string]int{}
	for i, l := range lines {
		switch {
		case l.Amount.Minor <= 0:
			return ImportResult{}, coalition.Errorf(coalition.Invalid, "content", "line %d: the amount must be positive", i+1)
		case l.BookingDate.IsZero():
			return ImportResult{}, coalition.Errorf(coalition.Invalid, "content", "line %d: no booking or value date", i+1)
		}
		keys[i] = l.DedupKey()
		if l.BankRef == "" {
			alike[keys[i]]++
			if n := alike[keys[i]]; n > 1 {
				keys[i] += "#" + strconv.Itoa(n)
			}
		}
	}
	res := ImportResult{Lines: len(lines)}
	err = f.tx.Write(ctx, func(tx pgx.Tx) error {
		res.Added = 0
		now := f.now()
		for i, l := range lines {
			dir := "credit"
			if l.Direction == payments.Debit {
				dir = "debit"
			}
			tag, err := tx.Exec(ctx, `
				INSERT INTO bank_statement_lines (id, dedupe_key, booking_date, amount_minor, currency, direction, reversal,
				       account, bank_ref, end_to_end_id, reference, source, imported_by, imported_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
				ON CONFLICT (dedupe_key) DO NOTHING`,
				coalition.NewID(), keys[i], l.BookingDate.String(), l.Amount.Minor, l.Amount.Currency, dir, l.Reversal,
				l.Account, l.BankRef, l.EndToEndID, l.Reference, format+":"+l.Statement, by.ID, now)
			if err != nil {
				return err
			}
			res.Added += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("import statement: %w", err)
	}
	res.Duplicates = res.Lines - res.Added
	return res, nil
}

// StatementLine is a line of an imported statement.
type StatementLine struct {
	ID          uuid.UUID
	BookingDate time.Time
	Minor       int64
	Currency    string
	Direction   string // credit or debit
	Reversal    bool
	EndToEndID  string
	Reference   string
	// AssignedTo is the instruction a person matched the line to; SetAside
	// a line a person looked into and found no instruction's (Note says
	// why).
	AssignedTo string
	SetAside   bool
	Note       string
	// Reason is why the matching placed the line nowhere (unmatched
	// lines only): payments.Reason's values.
	Reason string
}

// Outcome is one instruction against the statements.
type Outcome struct {
	Instruction
	Status           payments.Status
	PaidMinor        int64
	OutstandingMinor int64
	ExcessMinor      int64
	Lines            []StatementLine
}

// Reconciliation is every instruction (but zero periods) against the
// imported statements, on a day.
type Reconciliation struct {
	AsOf      time.Time
	Outcomes  []Outcome
	Unmatched []StatementLine // for a person to resolve
	SetAside  []StatementLine
	// Ageing is what is outstanding per partner on AsOf, by days overdue:
	// Direction Credit for what the partner owes the operator, Debit for
	// what the operator owes it.
	Ageing []payments.AgeingRow
}

// Reconcile matches the imported statement lines to the instructions (of
// one partner when party is not empty: then no unmatched lines, which may
// be anybody's) and ages what is outstanding on asOf.
func (f *Finance) Reconcile(ctx context.Context, party string, asOf time.Time) (Reconciliation, error) {
	out := Reconciliation{AsOf: asOf}
	ins, err := f.Instructions(ctx, InstructionFilter{Party: party})
	if err != nil {
		return out, err
	}
	// For one partner, only the lines that can be its: those naming or
	// assigned to one of its instructions, and those with no end-to-end
	// id, whose text may name one.
	var mine []string
	if party != "" {
		mine = make([]string, 0, len(ins))
		for _, in := range ins {
			mine = append(mine, in.EndToEndID)
		}
	}
	rows, err := f.tx.Pool().Query(ctx, `
		SELECT id, booking_date, amount_minor, currency, direction, reversal, end_to_end_id, reference,
		       COALESCE(assigned_to, ''), set_aside, resolution_note
		FROM bank_statement_lines
		WHERE $1::text[] IS NULL OR end_to_end_id = ANY ($1) OR assigned_to = ANY ($1) OR end_to_end_id = ''
		ORDER BY booking_date, imported_at, id`, mine)
	if err != nil {
		return out, fmt.Errorf("statement lines: %w", err)
	}
	stored, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementLine, error) {
		var l StatementLine
		err := r.Scan(&l.ID, &l.BookingDate, &l.Minor, &l.Currency, &l.Direction, &l.Reversal, &l.EndToEndID, &l.Reference,
			&l.AssignedTo, &l.SetAside, &l.Note)
		return l, err
	})
	if err != nil {
		return out, fmt.Errorf("statement lines: %w", err)
	}
	byID := map[string]StatementLine{}
	var lines []payments.StatementLine
	for _, l := range stored {
		if l.SetAside {
			out.SetAside = append(out.SetAside, l)
			continue
		}
		byID[l.ID.String()] = l
		dir := payments.Credit
		if l.Direction == "debit" {
			dir = payments.Debit
		}
		e2e := l.EndToEndID
		if l.AssignedTo != "" {
			e2e = l.AssignedTo
		}
		// Lines were deduplicated on import: the stored id stands in for
		// the bank's reference, so that none is taken for another here.
		lines = append(lines, payments.StatementLine{BookingDate: payments.DateOf(l.BookingDate),
			Amount: coalition.Money{Minor: l.Minor, Currency: l.Currency}, Direction: dir, Reversal: l.Reversal,
			EndToEndID: e2e, Reference: l.Reference, BankRef: l.ID.String()})
	}
	bank := make([]payments.Instruction, len(ins))
	for i, in := range ins {
		bank[i] = reconcilable(in)
	}
	r, err := payments.Reconcile(clearing.Operator, bank, lines)
	if err != nil {
		return out, fmt.Errorf("reconcile: %w", err)
	}
	for i, o := range r.Outcomes {
		oc := Outcome{Instruction: ins[i], Status: o.Status, PaidMinor: o.Paid.Minor, OutstandingMinor: o.Outstanding.Minor,
			ExcessMinor: o.Excess.Minor}
		for _, l := range o.Lines {
			oc.Lines = append(oc.Lines, byID[l.BankRef])
		}
		out.Outcomes = append(out.Outcomes, oc)
	}
	if party == "" {
		for _, u := range r.Unmatched {
			l := byID[u.Line.BankRef]
			l.Reason = string(u.Reason)
			out.Unmatched = append(out.Unmatched, l)
		}
	} else {
		out.SetAside = nil
	}
	out.Ageing = r.Ageing(payments.DateOf(asOf))
	return out, nil
}

// ResolveLine settles an unmatched line by hand: assigns it to an
// instruction (assignTo, an end-to-end id), or sets it aside with a note
// saying what it was. Either is recorded with who did it, once.
func (f *Finance) ResolveLine(ctx context.Context, by Actor, id uuid.UUID, assignTo string, note string) (StatementLine, error) {
	if err := checkActor(by); err != nil {
		return StatementLine{}, err
	}
	note = strings.TrimSpace(note)
	if assignTo == "" && note == "" {
		return StatementLine{}, coalition.Errorf(coalition.Invalid, "note", "say what the line is, or assign it to an instruction")
	}
	if len([]rune(note)) > 500 {
		return StatementLine{}, coalition.Errorf(coalition.Invalid, "note", "must be at most 500 characters")
	}
	var l StatementLine
	err := f.tx.Write(ctx, func(tx pgx.Tx) error {
		var resolved bool
		err := tx.QueryRow(ctx, `
			SELECT id, booking_date, amount_minor, currency, direction, end_to_end_id, reference, resolved_by IS NOT NULL
			FROM bank_statement_lines WHERE id = $1 FOR UPDATE`, id).
			Scan(&l.ID, &l.BookingDate, &l.Minor, &l.Currency, &l.Direction, &l.EndToEndID, &l.Reference, &resolved)
		if errors.Is(err, pgx.ErrNoRows) {
			return coalition.Errorf(coalition.NotFound, "line_id", "no statement line %s", id)
		}
		if err != nil {
			return err
		}
		if resolved {
			return coalition.Errorf(coalition.FailedPrecondition, "line_id", "statement line %s is resolved already", id)
		}
		if assignTo != "" {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM payment_instructions WHERE end_to_end_id = $1 AND direction <> 'none'`, assignTo).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return coalition.Errorf(coalition.NotFound, "end_to_end_id", "no payment instruction %q", assignTo)
			}
		}
		var assigned *string
		if assignTo != "" {
			assigned = &assignTo
		}
		l.AssignedTo, l.SetAside, l.Note = assignTo, assignTo == "", note
		_, err = tx.Exec(ctx, `
			UPDATE bank_statement_lines SET assigned_to = $2, set_aside = $3, resolution_note = $4, resolved_by = $5, resolved_at = $6
			WHERE id = $1`, id, assigned, l.SetAside, note, by.ID, f.now())
		return err
	})
	if err != nil {
		return StatementLine{}, fmt.Errorf("resolve statement line %s: %w", id, err)
	}
	return l, nil
}
