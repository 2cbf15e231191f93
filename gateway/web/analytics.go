package web

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
	"github.com/coalition-loyalty/coalition/gateway/analyticscsv"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The analytics pages: a partner's own figures in the portal, and the
// network's or any partner's for the operator, over a period picked on the
// page (the last 30 days by default) against the period before it. Both
// read the analytics service as the signed-in person, so the portal shows
// what the partner's own API would, suppressed cells included.

// analyticsTables are the tables a page shows, each with its CSV export.
var analyticsTables = analyticscsv.Tables

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
	var rows []figureRow
	for _, f := range analyticscsv.Figures(c, p) {
		rows = append(rows, figureRow{Key: "analytics." + f.Name, Kind: f.Kind, Cur: f.Cur, Prev: f.Prev, ChangeBP: f.ChangeBP,
			HasChange: f.HasChange, Chart: charted[f.Name], lessIsMore: f.LessIsMore})
	}
	return rows
}

// charted are the figures the current-against-previous chart draws: the
// counts and sums, not the shares and ratios.
var charted = map[string]bool{"acquired": true, "active": true, "repeat": true, "purchases": true, "spent": true, "check": true,
	"permember": true, "issued": true, "burned": true, "elsewhere": true}

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
	header, rows := analyticscsv.Table(d.R, table)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="analytics-`+scope+"-"+table+"-"+d.From+"-"+d.To+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(header)
	cw.WriteAll(rows)
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
