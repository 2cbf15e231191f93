package web

import (
	"io"
	"net/http"
	"regexp"
	"slices"

	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

var (
	datePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	linePattern = regexp.MustCompile(`^[A-Z][0-9]{1,6}$`)
)

type memberData struct {
	Me       *coalitionv1.GetMeResponse
	QR       any // template.HTML: the card's QR code as inline SVG
	Expiring *coalitionv1.ListExpiringPointsResponse
	History  *coalitionv1.ListMyHistoryResponse
	Partners []*coalitionv1.SpendPartner
	Page     string // this history page's token
	// Terms: nil if the server gives the pages none.
	Terms *MemberTerms
	// Personal are the member's personal offers and coupons (offers.go).
	Personal []*coalitionv1.MemberOffer
}

// Worth is the money value of points, in minor units of the coalition's
// currency.
func (d memberData) Worth(points int64) int64 {
	if d.Terms == nil {
		return 0
	}
	return points * d.Terms.PointValueMinor
}

// Reasons says, in lang, what a transaction's points were for: each line
// of its breakdown but the base rate (a purchase's own points).
func (d memberData) Reasons(lang string, tx *coalitionv1.Transaction) []string {
	var out []string
	for _, l := range tx.GetBreakdown() {
		if l.GetRule() == "base" {
			continue
		}
		why := label(lang, "rule.", l.GetRule())
		switch l.GetRule() {
		case "promotion":
			name := l.GetRef()
			if d.Terms != nil && d.Terms.Promotions[name] != "" {
				name = d.Terms.Promotions[name]
			}
			why += " " + name
		case "tier":
			why += " " + l.GetRef()
		}
		out = append(out, why+": +"+fmtPoints(l.GetPoints()))
	}
	return out
}

// PartnerOf names the partner of a history entry; points the coalition
// itself gives (a referral bonus) have none, and say so.
func (d memberData) PartnerOf(lang string, e *coalitionv1.HistoryEntry) string {
	if e.GetPartnerName() != "" {
		return e.GetPartnerName()
	}
	return translator(lang)("member.bycoalition")
}

func (s *server) memberPage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleMember)
	if sess == nil {
		return
	}
	ctx := rpcContext(r, tok)
	me, err := s.member.GetMe(ctx, &coalitionv1.GetMeRequest{})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := memberData{Me: me, Page: r.URL.Query().Get("page")}
	if d.QR, err = qrSVG(me.GetMember().GetQrToken()); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if d.Expiring, err = s.member.ListExpiringPoints(ctx, &coalitionv1.ListExpiringPointsRequest{Days: 30}); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	if d.History, err = s.member.ListMyHistory(ctx, &coalitionv1.ListMyHistoryRequest{PageSize: 20, PageToken: d.Page}); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	ps, err := s.member.ListSpendPartners(ctx, &coalitionv1.ListSpendPartnersRequest{})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d.Partners = ps.GetPartners()
	personal, err := s.member.ListMyOffers(ctx, &coalitionv1.ListMyOffersRequest{})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d.Personal = personal.GetOffers()
	if s.cfg.Terms != nil {
		terms, err := s.cfg.Terms.MemberTerms(r.Context(), sess.MemberID, me.GetTier().GetCode())
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		d.Terms = &terms
	}
	s.render(w, r, "member", page{Title: "member.title", Session: sess, Data: d})
}

func (s *server) financePage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	res, err := s.settlement.ListWindows(rpcContext(r, tok), &coalitionv1.ListWindowsRequest{PageSize: 62})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.render(w, r, "finance", page{Title: "finance.title", Session: sess, Data: res.GetWindows()})
}

// matrix is the gross issuer → redeemer flows as a table.
type matrix struct {
	Issuers, Redeemers []string
	Cells              map[string]map[string]int64 // issuer → redeemer → minor
	RowTotal, ColTotal map[string]int64
	Total              int64
}

type reportData struct {
	Report    *coalitionv1.SettlementReport
	Matrix    matrix
	Chart     any // template.HTML
	Flows     []*coalitionv1.ReportLine
	Fees      []*coalitionv1.ReportLine
	Breakage  []*coalitionv1.ReportLine
	Other     []*coalitionv1.ReportLine
	FeesTotal int64
	Names     map[string]string // partners' names by code
}

func (s *server) reportPage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	date := r.PathValue("date")
	if !datePattern.MatchString(date) {
		s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return
	}
	res, err := s.settlement.GetReport(rpcContext(r, tok), &coalitionv1.GetReportRequest{BusinessDate: date})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	rep := res.GetReport()
	d := reportData{Report: rep, Names: s.names(r), Matrix: matrix{Cells: map[string]map[string]int64{}, RowTotal: map[string]int64{}, ColTotal: map[string]int64{}}}
	for _, l := range rep.GetLines() {
		switch l.GetReportSection() {
		case coalitionv1.ReportSection_REPORT_SECTION_FLOW:
			d.Flows = append(d.Flows, l)
			// Points spent where they were issued move no money between
			// partners; the matrix and the chart show what does.
			if k := l.GetLineKind(); k == coalitionv1.LineKind_LINE_KIND_SELF_BURN || k == coalitionv1.LineKind_LINE_KIND_SELF_DEBT {
				continue
			}
			m := &d.Matrix
			if m.Cells[l.GetPayer()] == nil {
				m.Cells[l.GetPayer()] = map[string]int64{}
				m.Issuers = append(m.Issuers, l.GetPayer())
			}
			if _, ok := m.ColTotal[l.GetPayee()]; !ok {
				m.Redeemers = append(m.Redeemers, l.GetPayee())
			}
			amt := derefInt(l.AmountMinor)
			m.Cells[l.GetPayer()][l.GetPayee()] += amt
			m.RowTotal[l.GetPayer()] += amt
			m.ColTotal[l.GetPayee()] += amt
			m.Total += amt
		case coalitionv1.ReportSection_REPORT_SECTION_FEE:
			d.Fees = append(d.Fees, l)
			d.FeesTotal += derefInt(l.AmountMinor)
		case coalitionv1.ReportSection_REPORT_SECTION_BREAKAGE:
			d.Breakage = append(d.Breakage, l)
		case coalitionv1.ReportSection_REPORT_SECTION_NET, coalitionv1.ReportSection_REPORT_SECTION_HUB, coalitionv1.ReportSection_REPORT_SECTION_DIRECT:
			// shown from the report's own tables
		default:
			d.Other = append(d.Other, l)
		}
	}
	slices.Sort(d.Matrix.Issuers)
	slices.Sort(d.Matrix.Redeemers)
	d.Chart = flowChart(d.Matrix, rep.GetCurrency(), lang(w, r))
	s.render(w, r, "report", page{Title: "report.title", Session: sess, Data: d})
}

// reportCSV streams the report's CSV export as a download.
func (s *server) reportCSV(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	date := r.PathValue("date")
	if !datePattern.MatchString(date) {
		s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return
	}
	stream, err := s.settlement.ExportReport(rpcContext(r, tok), &coalitionv1.ExportReportRequest{BusinessDate: date})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	first, err := stream.Recv()
	s.download(w, r, sess, "settlement-"+date+".csv", "text/csv; charset=utf-8", first, err, func() ([]byte, error) {
		chunk, err := stream.Recv()
		return chunk.GetData(), err
	})
}

// download writes a streamed export as a file: first and err are the
// stream's first message, next reads each further one until io.EOF.
func (s *server) download(w http.ResponseWriter, r *http.Request, sess *sessions.Session, name, ctype string,
	first interface{ GetData() []byte }, err error, next func() ([]byte, error)) {
	// The first message tells whether the export is allowed and exists,
	// before any header is written.
	if err != nil && err != io.EOF {
		s.fail(w, r, sess, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if err == nil {
		w.Write(first.GetData())
	}
	for err == nil {
		var chunk []byte
		if chunk, err = next(); err == nil {
			w.Write(chunk)
		}
	}
	if err != io.EOF {
		// Headers are gone: cut the body short so the download fails
		// rather than looking complete.
		s.cfg.Log.ErrorContext(r.Context(), "export broke off", "file", name, "error", err)
		panic(http.ErrAbortHandler)
	}
}

type drillData struct {
	Date     string
	Line     *coalitionv1.ReportLine
	Postings []*coalitionv1.LedgerPosting
	Total    int64
	Names    map[string]string // partners' names by code
}

func (s *server) drillPage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleFinance)
	if sess == nil {
		return
	}
	date, line := r.PathValue("date"), r.PathValue("line")
	if !datePattern.MatchString(date) || !linePattern.MatchString(line) {
		s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return
	}
	res, err := s.settlement.DrillDown(rpcContext(r, tok), &coalitionv1.DrillDownRequest{BusinessDate: date, Line: line})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := drillData{Date: date, Line: res.GetLine(), Postings: res.GetPostings(), Names: s.names(r)}
	for _, p := range d.Postings {
		d.Total += p.GetPoints()
	}
	s.render(w, r, "drill", page{Title: "drill.title", Session: sess, Data: d})
}

type operatorData struct {
	Partners []*coalitionv1.PartnerStanding
	Figures  *coalitionv1.NetworkFigures
	// Rules is the rule set in force; nil if the rules service does not
	// answer, and the page shows each partner's base terms only.
	Rules *coalitionv1.RuleSet
	// Join: joining by QR is on, and each partner's poster is linked.
	Join bool
}

func (s *server) operatorPage(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleOperator)
	if sess == nil {
		return
	}
	ctx := rpcContext(r, tok)
	ps, err := s.network.ListPartnerStandings(ctx, &coalitionv1.ListPartnerStandingsRequest{})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	f, err := s.network.GetNetworkFigures(ctx, &coalitionv1.GetNetworkFiguresRequest{Days: 30})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := operatorData{Partners: ps.GetPartners(), Figures: f.GetFigures(), Join: s.cfg.Join != nil}
	if rs, err := s.admin.GetRules(ctx, &coalitionv1.GetRulesRequest{}); err == nil {
		d.Rules = rs
	} else {
		s.cfg.Log.WarnContext(r.Context(), "rules for the operator page", "code", status.Code(err).String())
	}
	s.render(w, r, "operator", page{Title: "operator.title", Session: sess, Data: d})
}
