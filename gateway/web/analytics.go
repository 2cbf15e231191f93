package web

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The analytics pages: a partner's own figures in the portal, and the
// network's or any partner's for the operator, over a period picked on the
// page (the last 30 days by default) against the period before it. Both
// read the analytics service as the signed-in person, so the portal shows
// what the partner's own API would, suppressed cells included.

// analyticsTables are the tables a page shows, each with its CSV export.
var analyticsTables = []string{"figures", "acquisition", "cross-shopping", "flows", "cohorts", "promotions"}

type analyticsData struct {
	R *coalitionv1.GetAnalyticsResponse
	// Portal: the partner's own page (with the portal's navigation).
	Portal bool
	// Base is the page's path; Query its period (and partner) as a query,
	// which the CSV links carry.
	Base     string
	Query    template.URL
	From, To string
	// The operator's choice of partner ("" for the network), and the
	// partners to choose from.
	Partner  string
	Partners []*coalitionv1.PartnerStanding
	Figures  []figureRow
	Names    map[string]string
	// Charts, drawn on the server.
	Compare, Acquisition, Cross, Cohorts template.HTML
}

// figureRow is one figure of the period and of the one before it, and
// the change between them in basis points of the previous (rounded
// toward zero; none when the previous is zero).
type figureRow struct {
	Key        string // messages key, and the CSV's name for it
	Kind       string // "count", "money", "bp", "centi"
	Cur, Prev  int64
	ChangeBP   int64
	HasChange  bool
	Chart      bool // drawn in the current-against-previous chart
	lessIsMore bool
}

// Up and Down say which way the figure moved, for the page's arrows.
func (f figureRow) Up() bool   { return f.Cur > f.Prev }
func (f figureRow) Down() bool { return f.Cur < f.Prev }

// Good says whether the move is a good one for the business (more
// members, fewer points expired), for its colour.
func (f figureRow) Good() bool { return f.Up() != f.lessIsMore }

func figureRows(c, p *coalitionv1.AnalyticsFigures) []figureRow {
	rows := []figureRow{
		{Key: "analytics.acquired", Kind: "count", Cur: c.GetAcquiredTotal(), Prev: p.GetAcquiredTotal(), Chart: true},
		{Key: "analytics.active", Kind: "count", Cur: c.GetActiveMembers(), Prev: p.GetActiveMembers(), Chart: true},
		{Key: "analytics.repeat", Kind: "count", Cur: c.GetRepeatMembers(), Prev: p.GetRepeatMembers(), Chart: true},
		{Key: "analytics.repeatshare", Kind: "bp", Cur: c.GetRepeatShareBp(), Prev: p.GetRepeatShareBp()},
		{Key: "analytics.purchases", Kind: "count", Cur: c.GetPurchases(), Prev: p.GetPurchases(), Chart: true},
		{Key: "analytics.frequency", Kind: "centi", Cur: c.GetFrequencyCenti(), Prev: p.GetFrequencyCenti()},
		{Key: "analytics.spent", Kind: "money", Cur: c.GetSpentMinor(), Prev: p.GetSpentMinor(), Chart: true},
		{Key: "analytics.check", Kind: "money", Cur: c.GetAverageCheckMinor(), Prev: p.GetAverageCheckMinor(), Chart: true},
		{Key: "analytics.permember", Kind: "money", Cur: c.GetSpendPerMemberMinor(), Prev: p.GetSpendPerMemberMinor(), Chart: true},
		{Key: "analytics.refunds", Kind: "count", Cur: c.GetRefunds(), Prev: p.GetRefunds(), lessIsMore: true},
		{Key: "analytics.refunded", Kind: "money", Cur: c.GetRefundedMinor(), Prev: p.GetRefundedMinor(), lessIsMore: true},
		{Key: "analytics.issued", Kind: "count", Cur: c.GetPointsIssued(), Prev: p.GetPointsIssued(), Chart: true},
		{Key: "analytics.burned", Kind: "count", Cur: c.GetPointsBurned(), Prev: p.GetPointsBurned(), Chart: true},
		{Key: "analytics.elsewhere", Kind: "count", Cur: c.GetPointsBurnedElsewhere(), Prev: p.GetPointsBurnedElsewhere(), Chart: true},
		{Key: "analytics.expired", Kind: "count", Cur: c.GetPointsExpired(), Prev: p.GetPointsExpired(), lessIsMore: true},
		{Key: "analytics.clawedback", Kind: "count", Cur: c.GetPointsClawedBack(), Prev: p.GetPointsClawedBack(), lessIsMore: true},
	}
	for i := range rows {
		f := &rows[i]
		if f.Prev > 0 {
			f.ChangeBP, f.HasChange = (f.Cur-f.Prev)*10_000/f.Prev, true
		}
	}
	return rows
}

// period is the page's period: from and to as asked, else the 30 days
// ending yesterday (in the coalition's time zone), the last day that can
// have been cleared.
func (s *server) period(r *http.Request) (from, to string) {
	from, to = r.URL.Query().Get("from"), r.URL.Query().Get("to")
	if to == "" {
		y := s.cfg.Now().In(s.cfg.Zone).AddDate(0, 0, -1)
		to = y.Format(time.DateOnly)
	}
	if from == "" {
		if t, err := time.Parse(time.DateOnly, to); err == nil {
			from = t.AddDate(0, 0, -29).Format(time.DateOnly)
		} else {
			from = to
		}
	}
	return from, to
}

// analyticsOf reads a page's figures; partner is the operator's choice.
func (s *server) analyticsOf(w http.ResponseWriter, r *http.Request, tok, partner string) (analyticsData, error) {
	from, to := s.period(r)
	res, err := coalitionv1.NewAnalyticsServiceClient(s.cfg.Conn).GetAnalytics(rpcContext(r, tok),
		&coalitionv1.GetAnalyticsRequest{From: from, To: to, Partner: partner})
	if err != nil {
		return analyticsData{}, err
	}
	q := url.Values{"from": {from}, "to": {to}}
	if partner != "" {
		q.Set("partner", partner)
	}
	d := analyticsData{R: res, From: from, To: to, Partner: partner, Query: template.URL(q.Encode()), Names: s.names(r),
		Figures: figureRows(res.GetCurrent(), res.GetPrevious())}
	l := lang(w, r)
	d.Compare = compareChart(d.Figures, res.GetCurrency(), l)
	d.Acquisition = acquisitionChart(res.GetCurrent().GetAcquired(), l)
	d.Cross = crossChart(res.GetCurrent().GetCrossShopping(), l)
	d.Cohorts = cohortChart(res.GetCurrent().GetCohorts(), l)
	return d, nil
}

func (s *server) portalAnalytics(w http.ResponseWriter, r *http.Request, c portalCaller) {
	d, err := s.analyticsOf(w, r, c.tok, "")
	if err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	d.Portal, d.Base = true, "/partner/analytics"
	s.render(w, r, "analytics", page{Title: "portal.analytics", Path: "/partner/analytics", Session: c.sess,
		Data: portalData{Caller: c, Data: d}})
}

func (s *server) portalAnalyticsCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.analyticsCSV(w, r, c.sess, c.tok, "", c.code)
}

func (s *server) operatorAnalytics(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleOperator)
	if sess == nil {
		return
	}
	partner := r.URL.Query().Get("partner")
	d, err := s.analyticsOf(w, r, tok, partner)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d.Base = "/operator/analytics"
	if ps, err := s.network.ListPartnerStandings(rpcContext(r, tok), &coalitionv1.ListPartnerStandingsRequest{}); err == nil {
		d.Partners = ps.GetPartners()
	}
	s.render(w, r, "analytics", page{Title: "operator.analytics", Path: "/operator/analytics", Session: sess,
		Data: portalData{Data: d}})
}

func (s *server) operatorAnalyticsCSV(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleOperator)
	if sess == nil {
		return
	}
	partner := r.URL.Query().Get("partner")
	scope := partner
	if scope == "" {
		scope = "network"
	}
	s.analyticsCSV(w, r, sess, tok, partner, scope)
}

// analyticsCSV writes one table (?table=) of a page, both periods, one row
// per line with the period it belongs to; figures in integers as the API
// gives them (money in minor units, shares in basis points).
func (s *server) analyticsCSV(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok, partner, scope string) {
	table := r.URL.Query().Get("table")
	if !slices.Contains(analyticsTables, table) {
		s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return
	}
	d, err := s.analyticsOf(w, r, tok, partner)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	header, rows := AnalyticsCSV(d.R, table)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="analytics-`+scope+"-"+table+"-"+d.From+"-"+d.To+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(header)
	cw.WriteAll(rows)
}

// AnalyticsCSV is a table of a report as CSV rows (the command line writes
// the same): each row starts with its period, "current" or "previous".
func AnalyticsCSV(res *coalitionv1.GetAnalyticsResponse, table string) ([]string, [][]string) {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	b := strconv.FormatBool
	var header []string
	var rows [][]string
	if table == "figures" {
		header = []string{"figure", "current", "previous", "change_bp"}
		for _, f := range figureRows(res.GetCurrent(), res.GetPrevious()) {
			change := ""
			if f.HasChange {
				change = i(f.ChangeBP)
			}
			rows = append(rows, []string{f.Key[len("analytics."):], i(f.Cur), i(f.Prev), change})
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

// Value shows n as the figure's kind reads: money, a share, a frequency
// (hundredths) or a count.
func (f figureRow) Value(lang, currency string, n int64) string {
	switch f.Kind {
	case "money":
		return fmtMoney(lang, n, currency)
	case "bp":
		return fmtBP(lang, n)
	case "centi":
		return fmtDecimal(lang, n)
	}
	return fmtPoints(n)
}

// Change shows the change against the previous period, signed.
func (f figureRow) Change(lang string) string {
	if !f.HasChange {
		return "—"
	}
	if f.ChangeBP > 0 {
		return "+" + fmtBP(lang, f.ChangeBP)
	}
	return fmtBP(lang, f.ChangeBP)
}
