package payments

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Status is where an instruction stands against the statements. The values
// are part of the API and of exports, and never change.
type Status string

const (
	// StatusOpen: nothing has been booked for it (or all of it was
	// reversed).
	StatusOpen Status = "open"
	// StatusPaid: the lines booked for it sum to its amount exactly.
	StatusPaid Status = "paid"
	// StatusPartlyPaid: less than its amount; Outstanding is the rest.
	StatusPartlyPaid Status = "partly_paid"
	// StatusOverpaid: more than its amount; Excess is the difference.
	StatusOverpaid Status = "overpaid"
)

// Reason says why a statement line matches no instruction.
type Reason string

const (
	// ReasonNoID: the line has no end-to-end id, and its text names no
	// instruction's id either.
	ReasonNoID Reason = "no_end_to_end_id"
	// ReasonUnknownID: no instruction has the line's end-to-end id.
	ReasonUnknownID Reason = "unknown_end_to_end_id"
	// ReasonCurrency: the id is an instruction's, the currency is not.
	ReasonCurrency Reason = "currency_mismatch"
	// ReasonDirection: the id is an instruction's, but the money went the
	// other way (a debit where a credit was expected, not a reversal).
	ReasonDirection Reason = "direction_mismatch"
)

// Reconciliation is what the statements of one holder's account say of
// the instructions.
type Reconciliation struct {
	// Holder is the party whose account the statements are of.
	Holder string
	// Outcomes has one element per instruction, in the order given.
	Outcomes []Outcome
	// Unmatched are the lines that settle no instruction, in the order
	// given: money finance has to look into.
	Unmatched []Unmatched
	// Duplicates are lines left out because a line with the same
	// StatementLine.DedupKey came before them.
	Duplicates []StatementLine
}

// Outcome is one instruction and the statement lines that settle it.
type Outcome struct {
	Instruction Instruction
	// Expect is how the instruction shows on the holder's account.
	Expect Direction
	Status Status
	// Paid is the sum of the lines, reversals subtracted; Outstanding is
	// what remains to be paid, Excess what was paid beyond the amount.
	Paid, Outstanding, Excess coalition.Money
	Lines                     []StatementLine
}

// Unmatched is a statement line that settles no instruction, and why.
type Unmatched struct {
	Line   StatementLine
	Reason Reason
}

// Reconcile matches the lines of statements of holder's account (a party
// code, as clearing.Operator) to the instructions that holder pays or is
// paid. A line settles the instruction with its end-to-end id, or, when it
// has none, the one instruction whose id its text names as a word (people
// paying by hand type it there); then its currency must be the
// instruction's, and its direction what the instruction expects on the
// holder's account: a debit when holder is the debtor, a credit when the
// creditor. A reversal counts against the instruction, the other way.
// Several lines may settle one instruction (partial payments); each line
// counts once, however many times it was imported (see
// StatementLine.DedupKey).
//
// It is an error for an instruction not to involve holder, since its money
// can never show on holder's statements, and for two instructions to share
// an end-to-end id.
func Reconcile(holder string, instructions []Instruction, lines []StatementLine) (Reconciliation, error) {
	r := Reconciliation{Holder: holder}
	byID := map[string]int{}
	byWord := map[string]int{} // upper-cased ids, as text may have them; -1 if two agree
	for i, in := range instructions {
		field := "instructions[" + strconv.Itoa(i) + "]"
		expect, ok := in.Expect(holder)
		if !ok {
			return Reconciliation{}, invalid(field, "%s pays %s: %q is neither", in.Debtor.Code, in.Creditor.Code, holder)
		}
		if j, ok := byID[in.EndToEndID]; ok {
			return Reconciliation{}, invalid(field+".end_to_end_id", "%q repeats instructions[%d]'s", in.EndToEndID, j)
		}
		byID[in.EndToEndID] = i
		if _, ok := byWord[strings.ToUpper(in.EndToEndID)]; ok {
			byWord[strings.ToUpper(in.EndToEndID)] = -1
		} else {
			byWord[strings.ToUpper(in.EndToEndID)] = i
		}
		zero := coalition.Money{Currency: in.Amount.Currency}
		r.Outcomes = append(r.Outcomes, Outcome{Instruction: in, Expect: expect, Paid: zero, Outstanding: zero, Excess: zero})
	}
	seen := map[string]bool{}
	for _, l := range lines {
		key := l.DedupKey()
		if seen[key] {
			r.Duplicates = append(r.Duplicates, l)
			continue
		}
		seen[key] = true
		i, reason := match(l, byID, byWord)
		if reason == "" {
			o := &r.Outcomes[i]
			switch {
			case l.Amount.Currency != o.Instruction.Amount.Currency:
				reason = ReasonCurrency
			case l.Direction == o.Expect && !l.Reversal:
				o.Paid.Minor += l.Amount.Minor
			case l.Direction != o.Expect && l.Reversal:
				o.Paid.Minor -= l.Amount.Minor
			default:
				reason = ReasonDirection
			}
			if reason == "" {
				o.Lines = append(o.Lines, l)
				continue
			}
		}
		r.Unmatched = append(r.Unmatched, Unmatched{Line: l, Reason: reason})
	}
	for i := range r.Outcomes {
		o := &r.Outcomes[i]
		owed, paid := o.Instruction.Amount.Minor, o.Paid.Minor
		switch {
		case paid <= 0:
			o.Status, o.Outstanding.Minor = StatusOpen, owed
		case paid < owed:
			o.Status, o.Outstanding.Minor = StatusPartlyPaid, owed-paid
		case paid == owed:
			o.Status = StatusPaid
		default:
			o.Status, o.Excess.Minor = StatusOverpaid, paid-owed
		}
	}
	return r, nil
}

// match finds the instruction a line names: by its end-to-end id, or else
// by the one id among the words of its text. Text naming two instructions
// settles neither: how to split the money is for a person to say.
func match(l StatementLine, byID, byWord map[string]int) (int, Reason) {
	if l.EndToEndID != "" {
		if i, ok := byID[l.EndToEndID]; ok {
			return i, ""
		}
		return 0, ReasonUnknownID
	}
	found := map[int]bool{}
	words := strings.FieldsFunc(strings.ToUpper(l.Reference), func(c rune) bool {
		return (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.'
	})
	for _, w := range words {
		// A sentence's full stop may cling to the id.
		for _, w := range []string{w, strings.TrimRight(w, ".")} {
			if i, ok := byWord[w]; ok {
				found[i] = true
			}
		}
	}
	if len(found) != 1 {
		return 0, ReasonNoID
	}
	for i := range found {
		if i >= 0 {
			return i, ""
		}
	}
	return 0, ReasonNoID
}

// AgeingRow is what remains to be paid between the holder and one
// counterparty in one direction and currency, by how late it is on the
// reference date. Amounts are minor units of Currency.
type AgeingRow struct {
	Counterparty string
	// Direction is Credit for money the counterparty owes the holder (a
	// receivable) and Debit for money the holder owes it (a payable).
	Direction Direction
	Currency  string
	// NotDue is owed by a day not yet past; the others are that many days
	// past their due day.
	NotDue, Days1To30, Days31To60, Days61To90, Over90 int64
}

// Total is everything outstanding in the row.
func (a AgeingRow) Total() int64 {
	return a.NotDue + a.Days1To30 + a.Days31To60 + a.Days61To90 + a.Over90
}

// Ageing buckets what remains outstanding on asOf (open and partly paid
// instructions) by the days since each instruction's due day, per
// counterparty, direction and currency, ordered by them. An instruction is
// not due on its due day, 1 day overdue the day after.
func (r Reconciliation) Ageing(asOf Date) []AgeingRow {
	type key struct {
		party     string
		direction Direction
		currency  string
	}
	rows := map[key]*AgeingRow{}
	for _, o := range r.Outcomes {
		if o.Outstanding.Minor == 0 {
			continue
		}
		in := o.Instruction
		party := in.Creditor.Code
		if o.Expect == Credit {
			party = in.Debtor.Code
		}
		k := key{party, o.Expect, o.Outstanding.Currency}
		row := rows[k]
		if row == nil {
			row = &AgeingRow{Counterparty: party, Direction: o.Expect, Currency: o.Outstanding.Currency}
			rows[k] = row
		}
		switch late := asOf.DaysSince(in.Due()); {
		case late <= 0:
			row.NotDue += o.Outstanding.Minor
		case late <= 30:
			row.Days1To30 += o.Outstanding.Minor
		case late <= 60:
			row.Days31To60 += o.Outstanding.Minor
		case late <= 90:
			row.Days61To90 += o.Outstanding.Minor
		default:
			row.Over90 += o.Outstanding.Minor
		}
	}
	out := make([]AgeingRow, 0, len(rows))
	for _, row := range rows {
		out = append(out, *row)
	}
	slices.SortFunc(out, func(a, b AgeingRow) int {
		return cmp.Or(cmp.Compare(a.Counterparty, b.Counterparty), cmp.Compare(a.Direction, b.Direction), cmp.Compare(a.Currency, b.Currency))
	})
	return out
}
