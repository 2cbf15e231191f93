package clearing

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/netting"
)

// CSVHeader names the columns of an exported report.
var CSVHeader = []string{"section", "line", "payer", "payee", "kind", "points", "amount_minor", "currency", "basis_points", "base_minor"}

// Line is one row of an exported report. Lines of the sections flow and fee
// are the money that moves: summed per party (payee +, payer −) they give
// the net lines. Hub and direct lines are the payment instructions; issued,
// breakage and liability lines are information in points.
type Line struct {
	Section              Section
	ID, Payer, Payee     string
	Kind                 Kind
	Points               *coalition.Points
	Minor, BP, BaseMinor *int64
}

func ptr[N ~int64](n N) *N { return &n }

// Lines lists the report as rows, each with an id (F1, X1, …) that DrillDown
// accepts.
func (r Report) Lines() []Line {
	var out []Line
	add := func(section Section, prefix string, l Line) {
		n := 1
		for _, o := range out {
			if o.Section == section {
				n++
			}
		}
		l.Section, l.ID = section, prefix+strconv.Itoa(n)
		out = append(out, l)
	}
	for _, f := range r.Flows {
		kind := f.Kind
		if f.Self() {
			kind = kind.self()
		}
		add(SectionFlow, "F", Line{Payer: f.Issuer, Payee: f.Redeemer, Kind: kind, Points: ptr(f.Points), Minor: ptr(f.Minor)})
	}
	for _, f := range r.Fees {
		add(SectionFee, "X", Line{Payer: f.Payer, Payee: Operator, Kind: f.Kind, Minor: ptr(f.Minor), BP: ptr(f.BP), BaseMinor: ptr(f.BaseMinor)})
	}
	for _, n := range r.Nets {
		add(SectionNet, "N", Line{Payer: n.Party, Kind: KindNet, Minor: ptr(n.Net)})
	}
	for _, p := range r.Hub {
		add(SectionHub, "H", Line{Payer: p.From, Payee: p.To, Kind: KindPayment, Minor: ptr(p.Minor)})
	}
	for _, p := range r.Direct {
		add(SectionDirect, "D", Line{Payer: p.From, Payee: p.To, Kind: KindPayment, Minor: ptr(p.Minor)})
	}
	for _, is := range r.Issued {
		add(SectionIssued, "I", Line{Payer: is.Partner, Kind: KindIssued, Points: ptr(is.Points)})
		if is.ClawedBack != 0 {
			add(SectionIssued, "I", Line{Payer: is.Partner, Kind: KindClawedBack, Points: ptr(is.ClawedBack)})
		}
	}
	for _, b := range r.Breakage {
		add(SectionBreakage, "B", Line{Payer: b.Partner, Kind: KindExpired, Points: ptr(b.Points), BaseMinor: ptr(b.Minor)})
	}
	for _, l := range r.Liabilities {
		add(SectionLiability, "L", Line{Payer: l.Partner, Kind: KindOutstanding, Points: ptr(l.Outstanding)})
	}
	return out
}

// WriteCSV writes the report as CSV: the header, then Lines.
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, l := range r.Lines() {
		currency := ""
		if l.Minor != nil || l.BaseMinor != nil {
			currency = r.Currency
		}
		if err := cw.Write([]string{string(l.Section), l.ID, l.Payer, l.Payee, string(l.Kind), num(l.Points), num(l.Minor), currency, num(l.BP), num(l.BaseMinor)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// num is a cell of a number, empty for none.
func num[N ~int64](p *N) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(int64(*p), 10)
}

// For narrows the report to what concerns one partner: its statement.
func (r Report) For(code string) Report {
	out := r
	keep := func(parties ...string) bool { return slices.Contains(parties, code) }
	out.Partners = slices.DeleteFunc(slices.Clone(r.Partners), func(p Party) bool { return p.Code != code })
	out.Flows = slices.DeleteFunc(slices.Clone(r.Flows), func(f Flow) bool { return !keep(f.Issuer, f.Redeemer) })
	out.Issued = slices.DeleteFunc(slices.Clone(r.Issued), func(i Issued) bool { return i.Partner != code })
	out.Breakage = slices.DeleteFunc(slices.Clone(r.Breakage), func(b Breakage) bool { return b.Partner != code })
	out.Fees = slices.DeleteFunc(slices.Clone(r.Fees), func(f Fee) bool { return f.Payer != code })
	out.Nets = slices.DeleteFunc(slices.Clone(r.Nets), func(n Net) bool { return n.Party != code })
	out.Hub = slices.DeleteFunc(slices.Clone(r.Hub), func(p netting.Payment) bool { return !keep(p.From, p.To) })
	out.Direct = slices.DeleteFunc(slices.Clone(r.Direct), func(p netting.Payment) bool { return !keep(p.From, p.To) })
	out.Liabilities = slices.DeleteFunc(slices.Clone(r.Liabilities), func(l Liability) bool { return l.Partner != code })
	out.Reconciliation = Reconciliation{}
	return out
}

// Posting is one ledger transaction behind a report line, with the points
// of it that the line counts.
type Posting struct {
	TransactionID uuid.UUID          `json:"transaction_id"`
	Kind          string             `json:"kind"`
	Partner       string             `json:"partner"`
	MemberID      coalition.MemberID `json:"member_id"`
	OrderID       string             `json:"order_id,omitempty"`
	Points        coalition.Points   `json:"points"`
	CreatedAt     time.Time          `json:"created_at"`
	// Note says why a posting that no purchase made was made: an approved
	// adjustment's reason (with who proposed and who approved it, for
	// finance).
	Note string `json:"note,omitempty"`
}

// DrillDown lists the ledger transactions behind one line of a window's
// report (a flow, a fee, issued points or breakage), so finance can follow
// a figure down to the postings. The points listed add up to the line's.
// With a partner's code, lines are those of the partner's statement, and
// other partners' postings are shown only as totals.
func (c *Clearing) DrillDown(ctx context.Context, date time.Time, lineID, partner string) (Line, []Posting, error) {
	b, err := c.Stored(ctx, date)
	if err != nil {
		return Line{}, nil, err
	}
	r, err := Decode(b)
	if err != nil {
		return Line{}, nil, err
	}
	ids := map[string]coalition.PartnerID{}
	for _, p := range r.Partners {
		ids[p.Code] = p.ID
	}
	if partner != "" {
		r = r.For(partner)
	}
	var line *Line
	for _, l := range r.Lines() {
		if l.ID == lineID {
			line = &l
			break
		}
	}
	if line == nil {
		return Line{}, nil, coalition.Errorf(coalition.NotFound, "line", "report %s has no line %s", r.BusinessDate, lineID)
	}
	// The report lists the partners; the operator, which issues the points
	// it funds and so appears in lines too, is looked up by its code.
	for _, code := range []string{line.Payer, line.Payee} {
		if _, ok := ids[code]; ok || code == "" {
			continue
		}
		var id coalition.PartnerID
		if err := c.tx.Pool().QueryRow(ctx, `SELECT id FROM partners WHERE code = $1`, code).Scan(&id); err != nil {
			return *line, nil, fmt.Errorf("drill down %s %s: party %s: %w", r.BusinessDate, lineID, code, err)
		}
		ids[code] = id
	}
	const fromConsumptions = `
		SELECT t.id, t.kind, p.code, t.member_id, COALESCE(t.order_id, ''), SUM(c.points), t.created_at
		FROM lot_consumptions AS c
		JOIN transactions AS t ON t.id = c.transaction_id
		JOIN partners AS p ON p.id = t.partner_id
		WHERE c.business_date = $1 AND c.issuer_id = $2 AND `
	const group = ` GROUP BY t.id, t.kind, p.code, t.member_id, t.order_id, t.created_at ORDER BY t.created_at, t.id`
	var sql string
	args := []any{r.BusinessDate, ids[line.Payer]}
	switch {
	case line.Section == SectionFlow && (line.Kind == KindDebt || line.Kind == KindSelfDebt):
		sql, args = fromConsumptions+`c.redeemer_id = $3 AND c.kind = 'debt'`+group, append(args, ids[line.Payee])
	case line.Section == SectionFlow:
		sql, args = fromConsumptions+`c.redeemer_id = $3 AND c.kind IN ('burn', 'burn_refund')`+group, append(args, ids[line.Payee])
	case line.Section == SectionFee && line.Kind == KindInterchange:
		sql = fromConsumptions + `c.redeemer_id <> c.issuer_id AND c.kind IN ('burn', 'burn_refund')` + group
	case (line.Section == SectionFee && line.Kind == KindBreakage) || line.Section == SectionBreakage:
		sql = fromConsumptions + `c.kind = 'expire'` + group
	case (line.Section == SectionFee && line.Kind == KindIssue) || line.Section == SectionIssued:
		// As the report counts them (issuedPostings): points issued count
		// up and points clawed back down, except on the clawed-back line,
		// which counts them up.
		which, sum := "", "SUM(i.points)"
		switch line.Kind {
		case KindIssued:
			which = " AND NOT i.clawback"
		case KindClawedBack:
			which, sum = " AND i.clawback", "-SUM(i.points)"
		}
		sql = `
			SELECT i.transaction_id, i.kind, p.code, i.member_id, COALESCE(i.order_id, ''), ` + sum + `, i.created_at
			FROM (` + issuedPostings + `) AS i
			JOIN partners AS p ON p.id = i.partner_id
			WHERE i.issuer_id = $2` + which + `
			GROUP BY i.transaction_id, i.kind, p.code, i.member_id, i.order_id, i.created_at
			ORDER BY i.created_at, i.transaction_id`
	default:
		return *line, nil, coalition.Errorf(coalition.Invalid, "line", "line %s (%s) is computed from other lines, not from postings", lineID, line.Section)
	}
	rows, err := c.tx.Pool().Query(ctx, sql, args...)
	if err != nil {
		return *line, nil, fmt.Errorf("drill down %s %s: %w", r.BusinessDate, lineID, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Posting, error) {
		var p Posting
		err := row.Scan(&p.TransactionID, &p.Kind, &p.Partner, &p.MemberID, &p.OrderID, &p.Points, &p.CreatedAt)
		p.CreatedAt = p.CreatedAt.UTC()
		return p, err
	})
	if err != nil {
		return *line, nil, fmt.Errorf("drill down %s %s: %w", r.BusinessDate, lineID, err)
	}
	if err := c.noteAdjustments(ctx, out, partner == ""); err != nil {
		return *line, nil, fmt.Errorf("drill down %s %s: %w", r.BusinessDate, lineID, err)
	}
	if partner != "" {
		out = othersAsTotals(out, partner)
	}
	return *line, out, nil
}

// noteAdjustments gives the postings that approved adjustments made their
// reason, and for finance the people who proposed and approved them.
func (c *Clearing) noteAdjustments(ctx context.Context, posts []Posting, names bool) error {
	var ids []uuid.UUID
	for _, p := range posts {
		if p.Kind == "bonus" {
			ids = append(ids, p.TransactionID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := c.tx.Pool().Query(ctx, `
		SELECT transaction_id, reason, proposed_by_name, decided_by_name
		FROM adjustments WHERE transaction_id = ANY ($1)`, ids)
	if err != nil {
		return fmt.Errorf("adjustments: %w", err)
	}
	notes := map[uuid.UUID]string{}
	var id uuid.UUID
	var reason, proposer, approver string
	if _, err := pgx.ForEachRow(rows, []any{&id, &reason, &proposer, &approver}, func() error {
		notes[id] = "Adjustment: " + reason
		if names {
			notes[id] += " (proposed by " + proposer + ", approved by " + approver + ")"
		}
		return nil
	}); err != nil {
		return fmt.Errorf("adjustments: %w", err)
	}
	for i := range posts {
		posts[i].Note = notes[posts[i].TransactionID]
	}
	return nil
}

// othersAsTotals keeps a partner's own postings whole and folds every other
// partner's into one total per partner and kind, with no transaction,
// member or order: partners of a coalition compete for customers, and a
// drill-down must not hand one the other's customer ids and orders. The
// points still add up to the line's. Finance staff drill down unscoped.
func othersAsTotals(posts []Posting, partner string) []Posting {
	var out []Posting
	totals := map[[2]string]int{} // (partner, kind) → index in out
	for _, p := range posts {
		if p.Partner == partner {
			out = append(out, p)
			continue
		}
		k := [2]string{p.Partner, p.Kind}
		if i, ok := totals[k]; ok {
			out[i].Points += p.Points
			continue
		}
		totals[k] = len(out)
		out = append(out, Posting{Kind: p.Kind, Partner: p.Partner, Points: p.Points})
	}
	return out
}
