package web

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"time"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The partner's drill-down: from a line of its statement to the ledger's
// transactions behind it. The settlement service narrows both the report
// and the postings to the partner (the line ids are those of the
// partner's own statement, and another partner's postings come as one
// total with no member or order), so a line between two other partners is
// not found, whatever id is asked for.

// drillable says whether a statement line is counted from postings, so
// that it has a drill-down: flows, fees, points issued and expired; nets,
// payments and the outstanding liability are computed from other lines.
func drillable(l *coalitionv1.ReportLine) bool {
	switch l.GetReportSection() {
	case coalitionv1.ReportSection_REPORT_SECTION_FLOW, coalitionv1.ReportSection_REPORT_SECTION_FEE,
		coalitionv1.ReportSection_REPORT_SECTION_ISSUED, coalitionv1.ReportSection_REPORT_SECTION_BREAKAGE:
		return true
	}
	return false
}

func (s *server) portalDrillDown(w http.ResponseWriter, r *http.Request, c portalCaller) (*coalitionv1.DrillDownResponse, string, bool) {
	date, line := r.PathValue("date"), r.PathValue("line")
	if !datePattern.MatchString(date) || !linePattern.MatchString(line) {
		s.render(w, r, "error", page{Title: "error.title", Session: c.sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return nil, "", false
	}
	res, err := s.settlement.DrillDown(rpcContext(r, c.tok), &coalitionv1.DrillDownRequest{BusinessDate: date, Line: line})
	if err != nil {
		s.fail(w, r, c.sess, err)
		return nil, "", false
	}
	return res, date, true
}

func (s *server) portalDrill(w http.ResponseWriter, r *http.Request, c portalCaller) {
	res, date, ok := s.portalDrillDown(w, r, c)
	if !ok {
		return
	}
	d := drillData{Date: date, Line: res.GetLine(), Postings: res.GetPostings(), Names: s.names(r)}
	for _, p := range d.Postings {
		d.Total += p.GetPoints()
	}
	s.portalRender(w, r, c, "partnerdrill", "drill.title", d, 0)
}

// portalDrillCSV is the drill-down's postings as CSV.
func (s *server) portalDrillCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	res, date, ok := s.portalDrillDown(w, r, c)
	if !ok {
		return
	}
	line := res.GetLine().GetId()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="statement-`+c.code+"-"+date+"-"+line+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"business_date", "line", "created_at", "transaction_id", "kind", "partner", "order_id", "points", "note"})
	for _, p := range res.GetPostings() {
		at := ""
		if p.GetCreatedAt() != nil {
			at = p.GetCreatedAt().AsTime().UTC().Format(time.RFC3339)
		}
		cw.Write([]string{date, line, at, p.GetTransactionId(), p.GetKind(), p.GetPartner(), p.GetOrderId(),
			strconv.FormatInt(p.GetPoints(), 10), p.GetNote()})
	}
	if cw.Flush(); cw.Error() != nil {
		s.cfg.Log.ErrorContext(r.Context(), "drill-down csv", "error", cw.Error())
	}
}

// Drillable says whether the statement links a line to its drill-down.
func (d statementData) Drillable(l *coalitionv1.ReportLine) bool { return drillable(l) }
