package web

import (
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The segments pages: a partner's own segments in the portal (its admin
// and marketing staff), and the coalition's or any partner's for the
// operator. Each shows the segments with their sizes, the RFM grid of the
// scope's members as a heatmap, and a form to define a rule segment. They
// read and write through the segment service as the signed-in person, so
// a partner sees its own segments only, sizes and counts only: no page
// lists a segment's members.

type segmentsData struct {
	Portal bool
	// Base is the page's path; Partner the operator's choice of scope
	// ("" for the coalition's), and the partners to choose from.
	Base     string
	Partner  string
	Partners []*coalitionv1.PartnerStanding
	Query    template.URL
	Segments []*coalitionv1.Segment
	Grid     *coalitionv1.GetRfmGridResponse
	Heatmap  template.HTML
	// A refused definition: the field at fault and what was wrong, and
	// the form as it was sent.
	Field, Problem string
	Form           url.Values
}

func (s *server) mountSegments(mux *http.ServeMux) {
	mux.HandleFunc("GET /operator/segments", s.operatorSegments)
	mux.HandleFunc("GET /operator/segments.csv", s.operatorSegmentsCSV)
	mux.HandleFunc("POST /operator/segments", s.operatorDefineSegment)
	mux.HandleFunc("POST /operator/segments/{code}/retire", s.operatorRetireSegment)
	mux.HandleFunc("POST /member/birthday", s.memberBirthday)
}

func (s *server) portalSegmentsPage(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.segmentsPage(w, r, c.sess, c.tok, "", true, c, nil, 0)
}

func (s *server) portalSegmentsCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.segmentsCSV(w, r, c.sess, c.tok, "")
}

func (s *server) portalDefineSegment(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.defineSegment(w, r, c.sess, c.tok, "", true, c)
}

func (s *server) portalRetireSegment(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.retireSegment(w, r, c.sess, c.tok, "", "/partner/segments")
}

func (s *server) operatorSegments(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleOperator)
	if sess == nil {
		return
	}
	s.segmentsPage(w, r, sess, tok, r.URL.Query().Get("partner"), false, portalCaller{}, nil, 0)
}

func (s *server) operatorSegmentsCSV(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleOperator)
	if sess == nil {
		return
	}
	s.segmentsCSV(w, r, sess, tok, r.URL.Query().Get("partner"))
}

func (s *server) operatorDefineSegment(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleOperator)
	if sess == nil || !s.checkCSRF(w, r, sess) {
		return
	}
	s.defineSegment(w, r, sess, tok, r.PostFormValue("partner"), false, portalCaller{})
}

func (s *server) operatorRetireSegment(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleOperator)
	if sess == nil || !s.checkCSRF(w, r, sess) {
		return
	}
	partner := r.PostFormValue("partner")
	s.retireSegment(w, r, sess, tok, partner, "/operator/segments?"+url.Values{"partner": {partner}}.Encode())
}

// segmentsPage shows the scope's segments and grid; refused, when a
// definition was, says why.
func (s *server) segmentsPage(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok, partner string, portal bool,
	c portalCaller, refused error, code int) {
	ctx := rpcContext(r, tok)
	client := coalitionv1.NewSegmentServiceClient(s.cfg.Conn)
	scope := &coalitionv1.SegmentScope{Partner: partner}
	list, err := client.ListSegments(ctx, &coalitionv1.ListSegmentsRequest{Scope: scope})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	grid, err := client.GetRfmGrid(ctx, &coalitionv1.GetRfmGridRequest{Scope: scope})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	d := segmentsData{Portal: portal, Partner: partner, Segments: list.GetSegments(), Grid: grid,
		Heatmap: rfmHeatmap(grid, lang(w, r)), Base: "/operator/segments", Form: r.PostForm}
	if portal {
		d.Base = "/partner/segments"
	} else {
		if ps, err := s.network.ListPartnerStandings(ctx, &coalitionv1.ListPartnerStandingsRequest{}); err == nil {
			d.Partners = ps.GetPartners()
		}
		d.Query = template.URL(url.Values{"partner": {partner}}.Encode())
	}
	if refused != nil {
		d.Problem, d.Field = refusal(refused)
	}
	if portal {
		s.portalRender(w, r, c, "segments", "segments.title", d, code)
		return
	}
	s.render(w, r, "segments", page{Title: "segments.title", Session: sess, Data: portalData{Data: d}, Status: code})
}

// refusal is what a form's page says of a refused request: the service's
// message, and the field it names, if any, to mark on the form.
func refusal(err error) (problem, field string) {
	st := status.Convert(err)
	for _, det := range st.Details() {
		if br, ok := det.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			field = br.GetFieldViolations()[0].GetField()
		}
	}
	return st.Message(), field
}

// segmentsCSV exports the segments table.
func (s *server) segmentsCSV(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok, partner string) {
	list, err := coalitionv1.NewSegmentServiceClient(s.cfg.Conn).ListSegments(rpcContext(r, tok),
		&coalitionv1.ListSegmentsRequest{Scope: &coalitionv1.SegmentScope{Partner: partner}})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="segments.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"partner", "code", "name", "definition", "as_of", "size", "size_suppressed", "retired"})
	for _, seg := range list.GetSegments() {
		size := strconv.FormatInt(seg.GetSize(), 10)
		if seg.GetSizeSuppressed() {
			size = ""
		}
		cw.Write([]string{seg.GetPartner(), seg.GetCode(), csvSafe(seg.GetName()), csvSafe(describe(seg.GetDefinition())), seg.GetAsOf(), size,
			strconv.FormatBool(seg.GetSizeSuppressed()), strconv.FormatBool(seg.GetRetired())})
	}
	cw.Flush()
}

// csvSafe keeps a text a spreadsheet would take for a formula as text.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

func (s *server) defineSegment(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok, partner string, portal bool, c portalCaller) {
	def, field := definitionForm(r)
	if field != "" {
		s.segmentsPage(w, r, sess, tok, partner, portal, c,
			status.Error(codes.InvalidArgument, field+": must be a whole number"), http.StatusBadRequest)
		return
	}
	_, err := coalitionv1.NewSegmentServiceClient(s.cfg.Conn).DefineSegment(rpcContext(r, tok), &coalitionv1.DefineSegmentRequest{
		Scope: &coalitionv1.SegmentScope{Partner: partner}, Code: strings.TrimSpace(r.PostFormValue("code")),
		Name: r.PostFormValue("name"), Definition: def})
	if status.Code(err) == codes.InvalidArgument {
		s.segmentsPage(w, r, sess, tok, partner, portal, c, err, http.StatusBadRequest)
		return
	}
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	to := "/partner/segments"
	if !portal {
		to = "/operator/segments?" + url.Values{"partner": {partner}}.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *server) retireSegment(w http.ResponseWriter, r *http.Request, sess *sessions.Session, tok, partner, back string) {
	_, err := coalitionv1.NewSegmentServiceClient(s.cfg.Conn).RetireSegment(rpcContext(r, tok),
		&coalitionv1.RetireSegmentRequest{Code: r.PathValue("code"), Scope: &coalitionv1.SegmentScope{Partner: partner}})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// definitionForm reads the form's conditions: lists comma-separated,
// numbers blank for no condition. It names the first number that is not
// one.
func definitionForm(r *http.Request) (*coalitionv1.SegmentDefinition, string) {
	list := func(name string) []string {
		var out []string
		for _, v := range strings.Split(r.PostFormValue(name), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	bad := ""
	num := func(name string) int32 {
		v := strings.TrimSpace(r.PostFormValue(name))
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil && bad == "" {
			bad = name
		}
		return int32(n)
	}
	rng := func(prefix string) *coalitionv1.ScoreRange {
		lo, hi := num(prefix+"_min"), num(prefix+"_max")
		if lo == 0 && hi == 0 {
			return nil
		}
		if hi == 0 {
			hi = 5
		}
		if lo == 0 {
			lo = 1
		}
		return &coalitionv1.ScoreRange{Min: lo, Max: hi}
	}
	d := &coalitionv1.SegmentDefinition{
		Tiers: list("tiers"), Categories: list("categories"), VisitedPartners: list("visited_partners"),
		MinPartnersVisited: num("min_partners_visited"), LapsedDays: num("lapsed_days"), BirthdayMonth: num("birthday_month"),
		Recency: rng("recency"), Frequency: rng("frequency"), Monetary: rng("monetary"),
	}
	return d, bad
}

// describe is a definition in one line, for the table and the CSV.
func describe(d *coalitionv1.SegmentDefinition) string {
	var parts []string
	add := func(k, v string) { parts = append(parts, k+"="+v) }
	if len(d.GetTiers()) > 0 {
		add("tiers", strings.Join(d.GetTiers(), "|"))
	}
	if len(d.GetCategories()) > 0 {
		add("categories", strings.Join(d.GetCategories(), "|"))
	}
	if len(d.GetVisitedPartners()) > 0 {
		add("visited", strings.Join(d.GetVisitedPartners(), "|"))
	}
	if n := d.GetMinPartnersVisited(); n > 0 {
		add("min_partners", strconv.Itoa(int(n)))
	}
	if n := d.GetLapsedDays(); n > 0 {
		add("lapsed_days", strconv.Itoa(int(n)))
	}
	if n := d.GetBirthdayMonth(); n > 0 {
		add("birthday_month", strconv.Itoa(int(n)))
	}
	for _, sr := range []struct {
		k string
		r *coalitionv1.ScoreRange
	}{{"R", d.GetRecency()}, {"F", d.GetFrequency()}, {"M", d.GetMonetary()}} {
		if sr.r != nil {
			add(sr.k, fmt.Sprintf("%d..%d", sr.r.GetMin(), sr.r.GetMax()))
		}
	}
	return strings.Join(parts, " ")
}

// rfmHeatmap draws the grid: recency across, frequency up, each cell as
// dark as its share of the busiest cell, with its count written in it, so
// the colour is never the only way to read a number.
func rfmHeatmap(g *coalitionv1.GetRfmGridResponse, lang string) template.HTML {
	var max int64
	for _, c := range g.GetCells() {
		max = maxOf(max, c.GetMembers())
	}
	const cell, left, top = 64, 40, 8
	t := translator(lang)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart heatmap" id="rfm-heatmap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="rfm-title"><title id="rfm-title">%s</title>`,
		left+5*cell+8, top+5*cell+48, template.HTMLEscapeString(t("segments.grid")))
	for _, c := range g.GetCells() {
		r, f := int(c.GetRecency()), int(c.GetFrequency())
		x, y := left+(r-1)*cell, top+(5-f)*cell
		// Opacity in tenths, from 1 for an empty cell to 10 for the busiest.
		shade := int64(1)
		if max > 0 {
			shade = 1 + 9*c.GetMembers()/max
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" class="heat" fill-opacity="%d.%d" data-r="%d" data-f="%d" data-members="%d"/>`,
			x+1, y+1, cell-2, cell-2, shade/10, shade%10, r, f, c.GetMembers())
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="chart-value heat-count">%d</text>`, x+cell/2, y+cell/2+5, c.GetMembers())
	}
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="chart-label">%d</text>`, left+(i-1)*cell+cell/2, top+5*cell+18, i)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="chart-label">%d</text>`, left-8, top+(5-i)*cell+cell/2+5, i)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="chart-label">%s</text>`, left+5*cell/2, top+5*cell+40,
		template.HTMLEscapeString(t("segments.axes")))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func maxOf(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// Describe is a definition in one line, for the page's table.
func (segmentsData) Describe(d *coalitionv1.SegmentDefinition) string { return describe(d) }

// memberBirthday records the signed-in member's birth date from the
// member page's form.
func (s *server) memberBirthday(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.need(w, r, sessions.RoleMember)
	if sess == nil || !s.checkCSRF(w, r, sess) {
		return
	}
	num := func(name string) int32 {
		n, _ := strconv.ParseInt(strings.TrimSpace(r.PostFormValue(name)), 10, 32)
		return int32(n)
	}
	_, err := s.member.SetMyBirthday(rpcContext(r, tok), &coalitionv1.SetMyBirthdayRequest{
		BirthMonth: num("month"), BirthDay: num("day"), BirthYear: num("year")})
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/member", http.StatusSeeOther)
}
