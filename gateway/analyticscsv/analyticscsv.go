// Package analyticscsv writes the tables of an analytics report as CSV
// rows, the same for the web pages' downloads and the command line, so
// that neither needs the other: it reads the API's answer and nothing
// else.
package analyticscsv

import (
	"strconv"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// Tables are the report's tables, in the order the pages show them.
var Tables = []string{"figures", "acquisition", "cross-shopping", "flows", "cohorts", "promotions"}

// Figure is one figure of the period and of the one before it, and the
// change between them in basis points of the previous (rounded toward
// zero; none when the previous is zero).
type Figure struct {
	Name string // as the CSV names it, e.g. "repeatshare"
	// Kind is how the figure reads: "count", "money" (minor units), "bp"
	// (basis points) or "centi" (hundredths).
	Kind      string
	Cur, Prev int64
	ChangeBP  int64
	HasChange bool
	// LessIsMore: a fall is the good news (refunds, points expired).
	LessIsMore bool
}

// Figures are the report's figures, in the order the pages show them.
func Figures(c, p *coalitionv1.AnalyticsFigures) []Figure {
	rows := []Figure{
		{Name: "acquired", Kind: "count", Cur: c.GetAcquiredTotal(), Prev: p.GetAcquiredTotal()},
		{Name: "active", Kind: "count", Cur: c.GetActiveMembers(), Prev: p.GetActiveMembers()},
		{Name: "repeat", Kind: "count", Cur: c.GetRepeatMembers(), Prev: p.GetRepeatMembers()},
		{Name: "repeatshare", Kind: "bp", Cur: c.GetRepeatShareBp(), Prev: p.GetRepeatShareBp()},
		{Name: "purchases", Kind: "count", Cur: c.GetPurchases(), Prev: p.GetPurchases()},
		{Name: "frequency", Kind: "centi", Cur: c.GetFrequencyCenti(), Prev: p.GetFrequencyCenti()},
		{Name: "spent", Kind: "money", Cur: c.GetSpentMinor(), Prev: p.GetSpentMinor()},
		{Name: "check", Kind: "money", Cur: c.GetAverageCheckMinor(), Prev: p.GetAverageCheckMinor()},
		{Name: "permember", Kind: "money", Cur: c.GetSpendPerMemberMinor(), Prev: p.GetSpendPerMemberMinor()},
		{Name: "refunds", Kind: "count", Cur: c.GetRefunds(), Prev: p.GetRefunds(), LessIsMore: true},
		{Name: "refunded", Kind: "money", Cur: c.GetRefundedMinor(), Prev: p.GetRefundedMinor(), LessIsMore: true},
		{Name: "issued", Kind: "count", Cur: c.GetPointsIssued(), Prev: p.GetPointsIssued()},
		{Name: "burned", Kind: "count", Cur: c.GetPointsBurned(), Prev: p.GetPointsBurned()},
		{Name: "elsewhere", Kind: "count", Cur: c.GetPointsBurnedElsewhere(), Prev: p.GetPointsBurnedElsewhere()},
		{Name: "expired", Kind: "count", Cur: c.GetPointsExpired(), Prev: p.GetPointsExpired(), LessIsMore: true},
		{Name: "clawedback", Kind: "count", Cur: c.GetPointsClawedBack(), Prev: p.GetPointsClawedBack(), LessIsMore: true},
	}
	for i := range rows {
		f := &rows[i]
		if f.Prev > 0 {
			f.ChangeBP, f.HasChange = (f.Cur-f.Prev)*10_000/f.Prev, true
		}
	}
	return rows
}

// Table is one table of a report (one of Tables) as a header and rows:
// figures in integers as the API gives them (money in minor units, shares
// in basis points); each row of the other tables starts with its period,
// "current" or "previous". An unknown table has no rows.
func Table(res *coalitionv1.GetAnalyticsResponse, table string) ([]string, [][]string) {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	b := strconv.FormatBool
	var header []string
	var rows [][]string
	if table == "figures" {
		header = []string{"figure", "current", "previous", "change_bp"}
		for _, f := range Figures(res.GetCurrent(), res.GetPrevious()) {
			change := ""
			if f.HasChange {
				change = i(f.ChangeBP)
			}
			rows = append(rows, []string{f.Name, i(f.Cur), i(f.Prev), change})
		}
		return header, rows
	}
	for _, p := range []struct {
		name string
		f    *coalitionv1.AnalyticsFigures
	}{{"current", res.GetCurrent()}, {"previous", res.GetPrevious()}} {
		switch table {
		case "acquisition":
			header = []string{"period", "partner", "channel", "location", "members"}
			for _, a := range p.f.GetAcquired() {
				rows = append(rows, []string{p.name, a.GetPartner(), a.GetChannel(), a.GetLocation(), i(a.GetMembers())})
			}
		case "cross-shopping":
			header = []string{"period", "home", "bought_at", "members", "suppressed"}
			for _, c := range p.f.GetCrossShopping() {
				rows = append(rows, []string{p.name, c.GetHome(), c.GetAt(), i(c.GetMembers()), b(c.GetSuppressed())})
			}
		case "flows":
			header = []string{"period", "issuer", "redeemer", "points"}
			for _, fl := range p.f.GetFlows() {
				rows = append(rows, []string{p.name, fl.GetIssuer(), fl.GetRedeemer(), i(fl.GetPoints())})
			}
		case "cohorts":
			header = []string{"period", "enrolment_month", "activity_month", "enrolled", "active", "retention_bp"}
			for _, c := range p.f.GetCohorts() {
				rows = append(rows, []string{p.name, c.GetEnrolmentMonth(), c.GetActivityMonth(), i(c.GetEnrolled()), i(c.GetActive()),
					i(c.GetRetentionBp())})
			}
		case "promotions":
			header = []string{"period", "rule", "code", "partner", "funder", "members", "purchases", "points",
				"participant_days", "spend_per_participant_day_minor", "comparable_days", "spend_per_comparable_day_minor",
				"budget_used", "suppressed"}
			for _, pr := range p.f.GetPromotions() {
				budget := ""
				if pr.GetHasBudget() {
					budget = i(pr.GetBudgetUsed())
				}
				rows = append(rows, []string{p.name, pr.GetRule(), pr.GetCode(), pr.GetPartner(), pr.GetFunder(), i(pr.GetMembers()),
					i(pr.GetPurchases()), i(pr.GetPoints()), i(pr.GetParticipantDays()), i(pr.GetSpendPerParticipantDayMinor()),
					i(pr.GetComparableDays()), i(pr.GetSpendPerComparableDayMinor()), budget, b(pr.GetSuppressed())})
			}
		}
	}
	return header, rows
}
