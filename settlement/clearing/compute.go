package clearing

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/netting"
)

type terms struct {
	currency      string
	pointValue    int64
	interchangeBP int64
	issueBP       int64
	breakageBP    int64
	partners      map[coalition.PartnerID]*partnerTerms
	codes         []string // sorted
	byCode        map[string]*partnerTerms
	operator      *partnerTerms // the operator as an issuer, if the ledger has it
}

// issuers are the partners and, last, the operator: everyone whose points
// members may hold.
func (t *terms) issuers() []string {
	if t.operator == nil {
		return t.codes
	}
	return append(slices.Clone(t.codes), Operator)
}

type partnerTerms struct {
	id                                 coalition.PartnerID
	code, name                         string
	interchangeBP, issueBP, breakageBP int64
}

// issuedPostings is the one definition of the points each issuer issued and
// had clawed back in the window $1, as the report's issued lines and issue
// fees count them (compute sums it per issuer) and as their drill-downs
// list them (DrillDown, per transaction): one row per entry on an issuer's
// account of an earn, a bonus or an earn refund, with points positive when
// issued and negative when clawed back. It reads the issuers' accounts, not
// the transactions' partners, since one purchase may issue points of
// several issuers (a promotion the operator or another partner funds, a
// welcome or referral bonus), and one refund may claw back points of
// several.
const issuedPostings = `
	SELECT a.owner_id AS issuer_id, t.id AS transaction_id, t.kind, t.partner_id, t.member_id, t.order_id,
	       t.created_at, t.kind = 'earn_refund' AS clawback, -e.amount AS points
	FROM transactions AS t
	JOIN entries AS e ON e.transaction_id = t.id
	JOIN accounts AS a ON a.id = e.account_id
	WHERE t.business_date = $1 AND a.kind = 'partner_issued' AND t.kind IN ('earn', 'bonus', 'earn_refund')`

// compute reads the window's rows set-based (a handful of GROUP BY queries,
// no per-row round trips) and assembles the report.
func (c *Clearing) compute(ctx context.Context, date time.Time, hlc string) (Report, error) {
	day := date.Format(time.DateOnly)
	var r Report
	err := c.read(ctx, hlc, func(tx pgx.Tx) error {
		t, err := loadTerms(ctx, tx)
		if err != nil {
			return err
		}
		r = Report{BusinessDate: day, Currency: t.currency, PointValueMinor: t.pointValue}
		for _, code := range t.codes {
			p := t.byCode[code]
			r.Partners = append(r.Partners, Party{ID: p.id, Code: p.code, Name: p.name})
		}
		code := func(id coalition.PartnerID) string { return t.partners[id].code }

		// Gross matrix: lot consumptions of the window, net of burn refunds.
		rows, err := tx.Query(ctx, `
			SELECT issuer_id, redeemer_id, kind = 'debt', SUM(points)
			FROM lot_consumptions
			WHERE business_date = $1 AND kind IN ('burn', 'burn_refund', 'debt')
			GROUP BY issuer_id, redeemer_id, kind = 'debt'`, day)
		if err != nil {
			return fmt.Errorf("flows: %w", err)
		}
		var redeemed coalition.Points
		for rows.Next() {
			var issuer, redeemer coalition.PartnerID
			var debt bool
			f := Flow{Kind: KindBurn}
			if err := rows.Scan(&issuer, &redeemer, &debt, &f.Points); err != nil {
				rows.Close()
				return fmt.Errorf("flows: %w", err)
			}
			if f.Points == 0 {
				continue
			}
			if debt {
				f.Kind = KindDebt
			}
			f.Issuer, f.Redeemer = code(issuer), code(redeemer)
			if !f.Self() {
				f.Minor = f.Points.Worth(t.pointValue)
			}
			if f.Kind == KindBurn {
				redeemed += f.Points
			}
			r.Flows = append(r.Flows, f)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("flows: %w", err)
		}
		slices.SortFunc(r.Flows, func(a, b Flow) int {
			return cmp.Or(cmp.Compare(a.Issuer, b.Issuer), cmp.Compare(a.Redeemer, b.Redeemer), cmp.Compare(a.Kind, b.Kind))
		})

		// Issued and clawed back, per issuer.
		issued := map[string]*Issued{}
		rows, err = tx.Query(ctx, `
			SELECT issuer_id,
			       COALESCE(SUM(points) FILTER (WHERE NOT clawback), 0),
			       COALESCE(-SUM(points) FILTER (WHERE clawback), 0)
			FROM (`+issuedPostings+`) AS i
			GROUP BY issuer_id`, day)
		if err != nil {
			return fmt.Errorf("issued: %w", err)
		}
		for rows.Next() {
			var id coalition.PartnerID // the owner of a partner_issued account
			var is Issued
			if err := rows.Scan(&id, &is.Points, &is.ClawedBack); err != nil {
				rows.Close()
				return fmt.Errorf("issued: %w", err)
			}
			if is.Points == 0 && is.ClawedBack == 0 {
				continue
			}
			is.Partner = code(id)
			issued[is.Partner] = &is
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("issued: %w", err)
		}

		// Expired points and every change to each issuer's lots.
		expired := map[string]coalition.Points{}
		consumed := map[string]coalition.Points{}
		rows, err = tx.Query(ctx, `
			SELECT issuer_id,
			       COALESCE(SUM(CASE WHEN kind = 'expire' THEN points END), 0),
			       SUM(points)
			FROM lot_consumptions
			WHERE business_date = $1
			GROUP BY issuer_id`, day)
		if err != nil {
			return fmt.Errorf("consumptions: %w", err)
		}
		for rows.Next() {
			var id coalition.PartnerID
			var exp, all coalition.Points
			if err := rows.Scan(&id, &exp, &all); err != nil {
				rows.Close()
				return fmt.Errorf("consumptions: %w", err)
			}
			expired[code(id)], consumed[code(id)] = exp, all
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("consumptions: %w", err)
		}

		// Outstanding liability carried from the previous cleared window.
		prev := map[string]coalition.Points{}
		rows, err = tx.Query(ctx, `
			SELECT partner_id, outstanding FROM partner_liabilities
			WHERE business_date = (SELECT max(business_date) FROM clearing_reports WHERE business_date < $1)`, day)
		if err != nil {
			return fmt.Errorf("liabilities: %w", err)
		}
		for rows.Next() {
			var id coalition.PartnerID
			var n coalition.Points
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return fmt.Errorf("liabilities: %w", err)
			}
			prev[code(id)] = n
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("liabilities: %w", err)
		}

		// The ledger's entries of the window, by kind of account, for the
		// reconciliation.
		entries := map[string]coalition.Points{}
		rows, err = tx.Query(ctx, `
			SELECT a.kind, SUM(e.amount)
			FROM transactions AS t
			JOIN entries AS e ON e.transaction_id = t.id
			JOIN accounts AS a ON a.id = e.account_id
			WHERE t.business_date = $1
			GROUP BY a.kind`, day)
		if err != nil {
			return fmt.Errorf("entries: %w", err)
		}
		for rows.Next() {
			var kind string
			var sum coalition.Points
			if err := rows.Scan(&kind, &sum); err != nil {
				rows.Close()
				return fmt.Errorf("entries: %w", err)
			}
			entries[kind] = sum
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("entries: %w", err)
		}

		assemble(&r, t, issued, expired, consumed, prev)
		rec := &r.Reconciliation
		rec.RedeemedPoints, rec.RedeemedEntries = redeemed, entries["partner_redeemed"]
		var issuedEarn, allConsumed coalition.Points
		for _, code := range t.issuers() {
			if is := issued[code]; is != nil {
				rec.IssuedPoints += is.Points - is.ClawedBack
				issuedEarn += is.Points
			}
			rec.ExpiredPoints += expired[code]
			allConsumed += consumed[code]
		}
		rec.IssuedEntries = -entries["partner_issued"]
		rec.BreakageEntries = entries["partner_breakage"]
		rec.MemberLotChange, rec.MemberEntries = issuedEarn-allConsumed, entries["member"]
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("compute %s: %w", day, err)
	}
	rec := r.Reconciliation
	for _, pair := range []struct {
		what        string
		report, led coalition.Points
	}{
		{"points redeemed at partners", rec.RedeemedPoints, rec.RedeemedEntries},
		{"points issued net of clawbacks", rec.IssuedPoints, rec.IssuedEntries},
		{"points expired", rec.ExpiredPoints, rec.BreakageEntries},
		{"change of members' points", rec.MemberLotChange, rec.MemberEntries},
	} {
		if pair.report != pair.led {
			return Report{}, fmt.Errorf("clear %s: reconciliation failed: %s: report %d, ledger %d", day, pair.what, pair.report, pair.led)
		}
	}
	if rec.NetsSum != 0 {
		return Report{}, fmt.Errorf("clear %s: reconciliation failed: sum of net positions: report %d, ledger 0", day, rec.NetsSum)
	}
	return r, nil
}

func loadTerms(ctx context.Context, tx pgx.Tx) (*terms, error) {
	t := &terms{partners: map[coalition.PartnerID]*partnerTerms{}, byCode: map[string]*partnerTerms{}}
	if err := tx.QueryRow(ctx, `
		SELECT currency, point_value_minor, interchange_fee_bp, issue_fee_bp, breakage_share_bp
		FROM coalition_settings WHERE id = 1`).Scan(&t.currency, &t.pointValue, &t.interchangeBP, &t.issueBP, &t.breakageBP); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	rows, err := tx.Query(ctx, `
		SELECT id, code, name, kind = 'operator',
		       COALESCE(interchange_fee_bp, $1), COALESCE(issue_fee_bp, $2), COALESCE(breakage_share_bp, $3)
		FROM partners ORDER BY code`, t.interchangeBP, t.issueBP, t.breakageBP)
	if err != nil {
		return nil, fmt.Errorf("partners: %w", err)
	}
	for rows.Next() {
		p := &partnerTerms{}
		var operator bool
		if err := rows.Scan(&p.id, &p.code, &p.name, &operator, &p.interchangeBP, &p.issueBP, &p.breakageBP); err != nil {
			rows.Close()
			return nil, fmt.Errorf("partners: %w", err)
		}
		if operator {
			// The operator issues the points it funds; it is a party of
			// every report already.
			p.code = Operator
			t.partners[p.id], t.operator = p, p
			continue
		}
		t.partners[p.id], t.byCode[p.code] = p, p
		t.codes = append(t.codes, p.code)
	}
	return t, rows.Err()
}

// fee is bp basis points of base, truncated toward zero: base is negative
// in a window whose refunds of earlier burns outweigh its burns.
func fee(base, bp int64) int64 { return coalition.MulDivTrunc(base, bp, 10_000) }

// assemble derives fees, breakage, nets, instructions and liabilities from
// the window's figures. Pure arithmetic, in integers.
func assemble(r *Report, t *terms, issued map[string]*Issued, expired, consumed, prev map[string]coalition.Points) {
	receivable, payable := map[string]int64{}, map[string]int64{}
	pay := func(from, to string, minor int64) {
		if minor < 0 {
			from, to, minor = to, from, -minor
		}
		payable[from] += minor
		receivable[to] += minor
	}
	crossBurn := map[string]int64{}
	for _, f := range r.Flows {
		if f.Self() {
			continue
		}
		pay(f.Issuer, f.Redeemer, f.Minor)
		if f.Kind == KindBurn {
			crossBurn[f.Issuer] += f.Minor
		}
	}
	// Every issuer's points, the operator's own included: issued, expired
	// and outstanding alike; only partners pay fees (the operator would pay
	// them to itself).
	for _, code := range t.issuers() {
		is := issued[code]
		if is != nil {
			r.Issued = append(r.Issued, *is)
		}
		if n := expired[code]; n != 0 {
			r.Breakage = append(r.Breakage, Breakage{Partner: code, Points: n, Minor: n.Worth(t.pointValue)})
		}
		out := prev[code]
		var netIssued coalition.Points
		if is != nil {
			out += is.Points
			netIssued = is.Points - is.ClawedBack
		}
		if code == Operator {
			// Listed only once the operator has funded points, so that a
			// coalition without operator promotions reports as before.
			if out-consumed[code] != 0 || prev[code] != 0 {
				r.Liabilities = append(r.Liabilities, Liability{Partner: code, Outstanding: out - consumed[code]})
			}
			continue
		}
		p := t.byCode[code]
		for _, f := range []Fee{
			{Payer: code, Kind: KindInterchange, BP: p.interchangeBP, BaseMinor: crossBurn[code]},
			{Payer: code, Kind: KindIssue, BP: p.issueBP, BaseMinor: netIssued.Worth(t.pointValue)},
			{Payer: code, Kind: KindBreakage, BP: p.breakageBP, BaseMinor: expired[code].Worth(t.pointValue)},
		} {
			if f.BaseMinor == 0 {
				continue
			}
			f.Minor = fee(f.BaseMinor, f.BP)
			r.Fees = append(r.Fees, f)
			pay(code, Operator, f.Minor)
		}
		r.Liabilities = append(r.Liabilities, Liability{Partner: code, Outstanding: out - consumed[code]})
	}
	var positions []netting.Position
	for _, party := range append(slices.Clone(t.codes), Operator) {
		n := Net{Party: party, Receivable: receivable[party], Payable: payable[party]}
		n.Net = n.Receivable - n.Payable
		r.Nets = append(r.Nets, n)
		r.Reconciliation.NetsSum += n.Net
		positions = append(positions, netting.Position{Party: party, Net: n.Net})
	}
	r.Hub = netting.Hub(Operator, positions)
	r.Direct, _ = netting.Direct(positions) // sums to zero by construction; checked by the reconciliation
}
