package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The partner portal: a partner's own staff, signed in with a credential of
// their partner, read the partner's statements and payments (through the
// gRPC server, as the partner, so they see what the partner's own API
// would show them and nothing else), and the partner's admin manages the
// partner's staff and API keys (through PartnerKeys, always narrowed to
// the session's partner).

// Who may open each page of the portal. Every portal route is mounted
// from this table (mountPortal), so a page missing here is not served, and
// the authorization test walks it.
var (
	portalAll   = []string{sessions.RolePartnerAdmin, sessions.RolePartnerFinance, sessions.RolePartnerMarketing}
	portalMoney = []string{sessions.RolePartnerAdmin, sessions.RolePartnerFinance}
	portalAdmin = []string{sessions.RolePartnerAdmin}
	// The partner's analytics, segments and offers.
	portalMarketing = []string{sessions.RolePartnerAdmin, sessions.RolePartnerMarketing}
)

var partnerPages = map[string][]string{
	"GET /partner":                                 portalAll,
	"GET /partner/statements":                      portalMoney,
	"GET /partner/statements/{date}":               portalMoney,
	"GET /partner/statements/{date}/statement.csv": portalMoney,
	"GET /partner/payments":                        portalMoney,
	"GET /partner/staff":                           portalAdmin,
	"POST /partner/staff":                          portalAdmin,
	"POST /partner/staff/{id}/revoke":              portalAdmin,
	"GET /partner/keys":                            portalAdmin,
	"POST /partner/keys":                           portalAdmin,
	"POST /partner/keys/{id}/rotate":               portalAdmin,
	"POST /partner/keys/{id}/revoke":               portalAdmin,
	// portal_certs.go, portal_drill.go
	"GET /partner/certificates":                                portalAdmin,
	"GET /partner/certificates.csv":                            portalAdmin,
	"POST /partner/certificates":                               portalAdmin,
	"POST /partner/certificates/{serial}/revoke":               portalAdmin,
	"GET /partner/statements/{date}/lines/{line}":              portalMoney,
	"GET /partner/statements/{date}/lines/{line}/postings.csv": portalMoney,
	// analytics.go
	"GET /partner/analytics":     portalMarketing,
	"GET /partner/analytics.csv": portalMarketing,
	// segments.go
	"GET /partner/segments":                portalMarketing,
	"GET /partner/segments.csv":            portalMarketing,
	"POST /partner/segments":               portalMarketing,
	"POST /partner/segments/{code}/retire": portalMarketing,
	// offers.go
	"GET /partner/offers":                    portalMarketing,
	"GET /partner/offers.csv":                portalMarketing,
	"POST /partner/offers":                   portalMarketing,
	"POST /partner/offers/{code}/end":        portalMarketing,
	"POST /partner/offers/{code}/coupons":    portalMarketing,
	"GET /partner/offers/{code}/coupons.csv": portalMarketing,
}

// The credentials a partner admin manages on each page: its staff (never
// an operator or finance credential, which belong to no partner), and its
// partner's API keys.
var (
	staffRoles = apikeys.PartnerStaffRoles
	keyRoles   = []string{apikeys.RolePartner}
)

// KeyOverlap is how long a rotated key of a partner keeps working.
const KeyOverlap = 24 * time.Hour

// PartnerKeys is what the portal needs of the API key store
// (*apikeys.Store): every call names the partner it is narrowed to.
type PartnerKeys interface {
	ListOf(ctx context.Context, partner coalition.PartnerID) ([]apikeys.Key, error)
	Issue(ctx context.Context, partner *coalition.PartnerID, role, name string) (apikeys.Key, string, error)
	RevokeOf(ctx context.Context, partner coalition.PartnerID, roles []string, id uuid.UUID) error
	RotateOf(ctx context.Context, partner coalition.PartnerID, roles []string, id uuid.UUID, overlap time.Duration) (apikeys.Key, string, error)
}

// PartnerOf names a partner: its code (the settlement reports know
// partners by code) and its name; a coalition.PermissionDenied error if the
// partner may not act now (suspended), and its staff get no portal page.
type PartnerOf func(ctx context.Context, id coalition.PartnerID) (code, name string, err error)

type portalHandler func(w http.ResponseWriter, r *http.Request, p portalCaller)

// portalCaller is a signed-in partner staff member.
type portalCaller struct {
	sess       *sessions.Session
	tok        string
	code, name string // the partner's
}

// Name and Role are the partner's name and the caller's portal role.
func (c portalCaller) Name() string { return c.name }
func (c portalCaller) Role() string { return c.sess.Role }

// Admin says whether the caller manages the partner's staff and keys;
// Money whether it reads statements and payments.
func (c portalCaller) Admin() bool { return slices.Contains(portalAdmin, c.sess.Role) }
func (c portalCaller) Money() bool { return slices.Contains(portalMoney, c.sess.Role) }

// Marketing says whether the caller reads the partner's analytics and
// manages its segments and offers.
func (c portalCaller) Marketing() bool { return slices.Contains(portalMarketing, c.sess.Role) }

func (s *server) mountPortal(mux *http.ServeMux) {
	handlers := map[string]portalHandler{
		"GET /partner":                                 s.portalHome,
		"GET /partner/statements":                      s.portalStatements,
		"GET /partner/statements/{date}":               s.portalStatement,
		"GET /partner/statements/{date}/statement.csv": s.portalStatementCSV,
		"GET /partner/payments":                        s.portalPayments,
		"GET /partner/staff":                           s.portalStaff,
		"POST /partner/staff":                          s.portalIssueStaff,
		"POST /partner/staff/{id}/revoke":              s.portalRevoke(staffRoles, "/partner/staff"),
		"GET /partner/keys":                            s.portalKeys,
		"POST /partner/keys":                           s.portalIssueKey,
		"POST /partner/keys/{id}/rotate":               s.portalRotateKey,
		"POST /partner/keys/{id}/revoke":               s.portalRevoke(keyRoles, "/partner/keys"),
		// portal_certs.go, portal_drill.go
		"GET /partner/certificates":                                s.portalCerts,
		"GET /partner/certificates.csv":                            s.portalCertsCSV,
		"POST /partner/certificates":                               s.portalIssueCert,
		"POST /partner/certificates/{serial}/revoke":               s.portalRevokeCert,
		"GET /partner/statements/{date}/lines/{line}":              s.portalDrill,
		"GET /partner/statements/{date}/lines/{line}/postings.csv": s.portalDrillCSV,
		// analytics.go
		"GET /partner/analytics":     s.portalAnalytics,
		"GET /partner/analytics.csv": s.portalAnalyticsCSV,
		// segments.go
		"GET /partner/segments":                s.portalSegmentsPage,
		"GET /partner/segments.csv":            s.portalSegmentsCSV,
		"POST /partner/segments":               s.portalDefineSegment,
		"POST /partner/segments/{code}/retire": s.portalRetireSegment,
		// offers.go
		"GET /partner/offers":                    s.portalOffersPage,
		"GET /partner/offers.csv":                s.portalOffersCSV,
		"POST /partner/offers":                   s.portalCreateOffer,
		"POST /partner/offers/{code}/end":        s.portalEndOffer,
		"POST /partner/offers/{code}/coupons":    s.portalIssueCoupons,
		"GET /partner/offers/{code}/coupons.csv": s.portalCouponsCSV,
	}
	for pattern, h := range handlers {
		roles, ok := partnerPages[pattern]
		if !ok {
			panic("portal page " + pattern + " has no roles in partnerPages")
		}
		post := strings.HasPrefix(pattern, "POST ")
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			sess, tok := s.need(w, r, roles...)
			if sess == nil {
				return
			}
			if post && !s.checkCSRF(w, r, sess) {
				return
			}
			c := portalCaller{sess: sess, tok: tok}
			if s.cfg.PartnerOf == nil || s.cfg.PartnerKeys == nil {
				s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusServiceUnavailable, Error: "error.unavailable"})
				return
			}
			var err error
			if c.code, c.name, err = s.cfg.PartnerOf(r.Context(), sess.PartnerID); err != nil {
				if e, ok := coalition.AsError(err); ok && e.Code == coalition.PermissionDenied {
					s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusForbidden, Error: "error.forbidden"})
					return
				}
				s.cfg.Log.ErrorContext(r.Context(), "portal partner", "error", err)
				s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusServiceUnavailable, Error: "error.unavailable"})
				return
			}
			h(w, r, c)
		})
	}
}

type portalData struct {
	Caller portalCaller
	Data   any
}

func (s *server) portalRender(w http.ResponseWriter, r *http.Request, c portalCaller, name, title string, d any, status int) {
	s.render(w, r, name, page{Title: title, Session: c.sess, Data: portalData{Caller: c, Data: d}, Status: status})
}

func (s *server) portalHome(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.portalRender(w, r, c, "partner", "portal.title", nil, 0)
}

func (s *server) portalStatements(w http.ResponseWriter, r *http.Request, c portalCaller) {
	res, err := s.settlement.ListWindows(rpcContext(r, c.tok), &coalitionv1.ListWindowsRequest{PageSize: 62})
	if err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	s.portalRender(w, r, c, "partnerstatements", "portal.statements", res.GetWindows(), 0)
}

type statementData struct {
	Report *coalitionv1.SettlementReport
	Lines  []*coalitionv1.ReportLine
	Names  map[string]string
}

func (s *server) portalStatement(w http.ResponseWriter, r *http.Request, c portalCaller) {
	date := r.PathValue("date")
	if !datePattern.MatchString(date) {
		s.render(w, r, "error", page{Title: "error.title", Session: c.sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return
	}
	res, err := s.settlement.GetPartnerStatement(rpcContext(r, c.tok), &coalitionv1.GetPartnerStatementRequest{BusinessDate: date, Partner: c.code})
	if err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	d := statementData{Report: res.GetStatement(), Names: s.names(r)}
	for _, l := range d.Report.GetLines() {
		switch l.GetReportSection() {
		case coalitionv1.ReportSection_REPORT_SECTION_NET, coalitionv1.ReportSection_REPORT_SECTION_HUB, coalitionv1.ReportSection_REPORT_SECTION_DIRECT:
			// shown from the statement's own tables
		default:
			d.Lines = append(d.Lines, l)
		}
	}
	s.portalRender(w, r, c, "partnerstatement", "portal.statement", d, 0)
}

// portalStatementCSV streams the export a partner's credentials give: the
// settlement service narrows it to the partner's own lines.
func (s *server) portalStatementCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	date := r.PathValue("date")
	if !datePattern.MatchString(date) {
		s.render(w, r, "error", page{Title: "error.title", Session: c.sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return
	}
	stream, err := s.settlement.ExportReport(rpcContext(r, c.tok), &coalitionv1.ExportReportRequest{BusinessDate: date})
	if err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	first, err := stream.Recv()
	s.download(w, r, c.sess, "statement-"+c.code+"-"+date+".csv", "text/csv; charset=utf-8", first, err, func() ([]byte, error) {
		chunk, err := stream.Recv()
		return chunk.GetData(), err
	})
}

func (s *server) portalPayments(w http.ResponseWriter, r *http.Request, c portalCaller) {
	res, err := s.settlement.ListPaymentInstructions(rpcContext(r, c.tok), &coalitionv1.ListPaymentInstructionsRequest{Party: c.code})
	if err != nil {
		s.fail(w, r, c.sess, err)
		return
	}
	s.portalRender(w, r, c, "partnerpayments", "portal.payments", res.GetInstructions(), 0)
}

// keysData is the staff or keys page: the partner's credentials of the
// page's roles, and the secret of one just issued (shown once).
type keysData struct {
	Keys   []apikeys.Key
	Roles  []string // that may be issued on the page
	Issued *apikeys.Key
	Secret string
}

// State is a key's state now: active, expiring (rotated) or ended.
func (d keysData) State(k apikeys.Key) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil:
		return "expires"
	}
	return "active"
}

// When is a time as the page shows it.
func (d keysData) When(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func (s *server) portalList(w http.ResponseWriter, r *http.Request, c portalCaller, roles []string, tpl, title string, d keysData, status int) {
	ks, err := s.cfg.PartnerKeys.ListOf(r.Context(), c.sess.PartnerID)
	if err != nil {
		s.cfg.Log.ErrorContext(r.Context(), "list partner keys", "error", err)
		s.render(w, r, "error", page{Title: "error.title", Session: c.sess, Status: http.StatusServiceUnavailable, Error: "error.unavailable"})
		return
	}
	for _, k := range ks {
		if slices.Contains(roles, k.Role) {
			d.Keys = append(d.Keys, k)
		}
	}
	d.Roles = roles
	if d.Secret != "" {
		// A secret is shown once: never kept by a cache or a back button.
		w.Header().Set("Cache-Control", "no-store")
	}
	path := "/partner/keys"
	if title == "portal.staff" {
		path = "/partner/staff"
	}
	s.render(w, r, tpl, page{Title: title, Path: path, Session: c.sess, Data: portalData{Caller: c, Data: d}, Status: status})
}

func (s *server) portalStaff(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.portalList(w, r, c, staffRoles, "partnerkeys", "portal.staff", keysData{}, 0)
}

func (s *server) portalKeys(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.portalList(w, r, c, keyRoles, "partnerkeys", "portal.keys", keysData{}, 0)
}

// portalIssueStaff issues a credential for one of the partner's own staff
// roles, for the session's partner: the form names no partner, and a role
// outside staffRoles (operator, finance, a partner API key) is refused.
func (s *server) portalIssueStaff(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.portalIssue(w, r, c, staffRoles, r.PostFormValue("role"), "portal.staff")
}

func (s *server) portalIssueKey(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.portalIssue(w, r, c, keyRoles, apikeys.RolePartner, "portal.keys")
}

func (s *server) portalIssue(w http.ResponseWriter, r *http.Request, c portalCaller, roles []string, role, title string) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if !slices.Contains(roles, role) || name == "" || len(name) > 100 {
		s.portalList(w, r, c, roles, "partnerkeys", title, keysData{}, http.StatusBadRequest)
		return
	}
	pid := c.sess.PartnerID
	k, secret, err := s.cfg.PartnerKeys.Issue(r.Context(), &pid, role, name)
	if err != nil {
		s.portalKeyFailed(w, r, c, err)
		return
	}
	s.cfg.Log.InfoContext(r.Context(), "partner credential issued", "partner", c.code, "role", role, "id", k.ID, "by", c.sess.CredentialID)
	s.portalList(w, r, c, roles, "partnerkeys", title, keysData{Issued: &k, Secret: secret}, 0)
}

func (s *server) portalRotateKey(w http.ResponseWriter, r *http.Request, c portalCaller) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		s.render(w, r, "error", page{Title: "error.title", Session: c.sess, Status: http.StatusNotFound, Error: "error.notfound"})
		return
	}
	k, secret, err := s.cfg.PartnerKeys.RotateOf(r.Context(), c.sess.PartnerID, keyRoles, id, KeyOverlap)
	if err != nil {
		s.portalKeyFailed(w, r, c, err)
		return
	}
	s.cfg.Log.InfoContext(r.Context(), "partner key rotated", "partner", c.code, "old", id, "id", k.ID, "by", c.sess.CredentialID)
	s.portalList(w, r, c, keyRoles, "partnerkeys", "portal.keys", keysData{Issued: &k, Secret: secret}, 0)
}

// portalRevoke revokes a credential of the partner's of roles, then shows
// back. A credential of another partner, or of another page's roles, is
// not found.
func (s *server) portalRevoke(roles []string, back string) portalHandler {
	return func(w http.ResponseWriter, r *http.Request, c portalCaller) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err == nil {
			err = s.cfg.PartnerKeys.RevokeOf(r.Context(), c.sess.PartnerID, roles, id)
		} else {
			err = coalition.Errorf(coalition.NotFound, "id", "no credential %q", r.PathValue("id"))
		}
		if err != nil {
			s.portalKeyFailed(w, r, c, err)
			return
		}
		s.cfg.Log.InfoContext(r.Context(), "partner credential revoked", "partner", c.code, "id", id, "by", c.sess.CredentialID)
		http.Redirect(w, r, back, http.StatusSeeOther)
	}
}

func (s *server) portalKeyFailed(w http.ResponseWriter, r *http.Request, c portalCaller, err error) {
	msg, code := "error.unavailable", http.StatusServiceUnavailable
	if e, ok := coalition.AsError(err); ok {
		switch e.Code {
		case coalition.NotFound:
			msg, code = "error.notfound", http.StatusNotFound
		case coalition.Invalid:
			msg, code = "error.invalid", http.StatusBadRequest
		}
	}
	if code == http.StatusServiceUnavailable && !errors.Is(err, context.Canceled) {
		s.cfg.Log.ErrorContext(r.Context(), "partner credentials", "error", err)
	}
	s.render(w, r, "error", page{Title: "error.title", Session: c.sess, Status: code, Error: msg})
}
