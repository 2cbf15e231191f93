// Package web serves the coalition's pages for people: a member's own page
// (balance, tier, card with its QR code, history, expiring points, where to
// spend), finance staff's settlement reports (windows, report, CSV, drill
// down to the ledger) and finance operations (payments and the bank's
// statements, adjustments and banking details decided by a second person,
// the points liability), the operator's view of the network, the partner
// portal for a partner's own staff (portal.go), and joining
// by QR at a partner's counter (the join pages and their printable
// posters). Pages are rendered on the server from embedded templates, in
// Russian or English.
//
// Every page reads its data by calling the gRPC server as the signed-in
// person, with their session token, so a page admits exactly the roles of
// the RPCs it calls. Sign-in itself (a staff credential, or a member's
// one-time link) is the only thing done here directly, through the session
// store, and so is joining by QR (join.go), through the enrolment service:
// it signs a person in, or enrolls them, before they have a session.
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition/sessions"
	"github.com/coalition-loyalty/coalition/gateway/rest"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Cookies the pages set. The session cookie is the same the REST gateway
// reads (rest.SessionCookie).
const (
	csrfCookie = "coalition_csrf"
	langCookie = "coalition_lang"
)

// Sessions is what the pages need of the session store.
type Sessions interface {
	SignInStaff(ctx context.Context, credential string) (sessions.Session, string, error)
	OpenMemberLink(ctx context.Context, code string) (sessions.Session, string, error)
	Check(ctx context.Context, token string) (sessions.Session, error)
	End(ctx context.Context, token string) error
}

// Config wires the pages.
type Config struct {
	// Conn reaches the gRPC server, as the REST gateway does.
	Conn     *grpc.ClientConn
	Sessions Sessions
	// Secure marks cookies Secure: set it when people reach the pages over
	// TLS (directly or through a TLS-terminating proxy).
	Secure bool
	// Terms, if set, gives the member page the points' value, the locked
	// points, the offers and the partners' rates.
	Terms Terms
	// PartnerNames, if set, gives the partners' names by code: the
	// finance pages name parties, which the reports know by code only.
	PartnerNames func(ctx context.Context) (map[string]string, error)
	// Zone is the coalition's time zone: the pages show times as they
	// read there (UTC if nil).
	Zone *time.Location
	// Now is the time (time.Now if nil): it dates the payment files'
	// names and picks the liability page's default month.
	Now func() time.Time
	// PublicURL is where people open the pages: the enrolment QR codes
	// point there.
	PublicURL string
	// Join, if set, serves self-enrolment by QR (join.go); nil: off.
	Join *Join
	// PartnerKeys and PartnerOf serve the partner portal (portal.go): the
	// partner's staff and API keys, and the signed-in partner's code and
	// name. Without them the portal's pages answer unavailable.
	PartnerKeys PartnerKeys
	PartnerOf   PartnerOf
	// PartnerCerts serves the portal's certificates page
	// (portal_certs.go); nil: that page answers unavailable.
	PartnerCerts PartnerCerts
	Log          *slog.Logger
}

type server struct {
	cfg        Config
	pages      map[string]*template.Template
	member     coalitionv1.MemberServiceClient
	settlement coalitionv1.SettlementServiceClient
	network    coalitionv1.NetworkServiceClient
	admin      coalitionv1.AdminServiceClient
}

// Handler returns the pages, to be mounted at the root of the HTTP server
// beside the REST API.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Zone == nil {
		cfg.Zone = time.UTC
	}
	s := &server{cfg: cfg, pages: map[string]*template.Template{},
		member:     coalitionv1.NewMemberServiceClient(cfg.Conn),
		settlement: coalitionv1.NewSettlementServiceClient(cfg.Conn),
		network:    coalitionv1.NewNetworkServiceClient(cfg.Conn),
		admin:      coalitionv1.NewAdminServiceClient(cfg.Conn),
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).Funcs(zoned(cfg.Zone)).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		s.pages[base] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(24*time.Hour, http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /signin", s.signInForm)
	mux.HandleFunc("POST /signin", s.signIn)
	mux.HandleFunc("POST /signout", s.signOut)
	mux.HandleFunc("GET /m/{code}", s.linkForm)
	mux.HandleFunc("POST /m/{code}", s.openLink)
	mux.HandleFunc("GET /member", s.memberPage)
	mux.HandleFunc("GET /finance", s.financePage)
	mux.HandleFunc("GET /finance/{date}", s.reportPage)
	mux.HandleFunc("GET /finance/{date}/report.csv", s.reportCSV)
	mux.HandleFunc("GET /finance/{date}/lines/{line}", s.drillPage)
	mux.HandleFunc("GET /finance/payments", s.paymentsPage)
	mux.HandleFunc("POST /finance/payments/make", s.makeInstructions)
	mux.HandleFunc("POST /finance/payments/statements", s.importStatement)
	mux.HandleFunc("POST /finance/payments/lines/{id}", s.resolveLine)
	mux.HandleFunc("POST /finance/payments/files", s.filePayments)
	mux.HandleFunc("GET /finance/payments/files/{file}", s.paymentFile)
	mux.HandleFunc("GET /finance/adjustments", s.adjustmentsPage)
	mux.HandleFunc("POST /finance/adjustments", s.proposeAdjustment)
	mux.HandleFunc("POST /finance/adjustments/{id}", s.decideAdjustment)
	mux.HandleFunc("GET /finance/accounts", s.accountsPage)
	mux.HandleFunc("POST /finance/accounts", s.proposeAccount)
	mux.HandleFunc("POST /finance/accounts/{id}", s.decideAccount)
	mux.HandleFunc("GET /finance/liability", s.liabilityPage)
	mux.HandleFunc("GET /finance/liability.csv", s.liabilityCSV)
	mux.HandleFunc("GET /operator", s.operatorPage)
	s.mountSegments(mux)
	s.mountOperatorOffers(mux)
	mux.HandleFunc("GET /operator/analytics", s.operatorAnalytics)
	mux.HandleFunc("GET /operator/analytics.csv", s.operatorAnalyticsCSV)
	s.mountJoin(mux)
	s.mountPortal(mux)
	return securityHeaders(mux), nil
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age="+itoa(int64(d/time.Second)))
		h.ServeHTTP(w, r)
	})
}

// securityHeaders: no framing (clickjacking), no inline scripts or foreign
// resources, no MIME sniffing, and no referrer to other sites, so a member
// link's code never leaks. (Not "no-referrer": with it browsers send
// "Origin: null" on the pages' own forms, which the CSRF check refuses.)
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Lang string
	T    func(string) string
	// Path is the page's own path: the request's, unless a form posted
	// elsewhere shows the page again.
	Path string
	// Query is what the language switch keeps of the page's query (the
	// join pages' point of sale), encoded.
	Query   template.URL
	Title   string
	Session *sessions.Session
	CSRF    string
	Data    any
	Error   string // a key of messages
	// Refusal is the server's own words for a form it refused, shown as
	// they are (domain messages name the field at fault).
	Refusal string
	Status  int
}

func (s *server) render(w http.ResponseWriter, r *http.Request, name string, p page) {
	p.Lang = lang(w, r)
	p.T = translator(p.Lang)
	if p.Path == "" {
		p.Path = r.URL.Path
	}
	if p.CSRF == "" {
		p.CSRF = s.csrfToken(w, r, p.Session)
	}
	if p.Title != "" {
		p.Title = p.T(p.Title)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if p.Status != 0 {
		w.WriteHeader(p.Status)
	}
	if err := s.pages[name].Execute(w, p); err != nil {
		s.cfg.Log.ErrorContext(r.Context(), "render page", "page", name, "error", err)
	}
}

// session returns the caller's live session, if any.
func (s *server) session(r *http.Request) (*sessions.Session, string) {
	c, err := r.Cookie(rest.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, ""
	}
	sess, err := s.cfg.Sessions.Check(r.Context(), c.Value)
	if err != nil {
		if !errors.Is(err, sessions.ErrNoSession) {
			s.cfg.Log.WarnContext(r.Context(), "check session", "error", err)
		}
		return nil, ""
	}
	return &sess, c.Value
}

// rpcContext is the request's context carrying the session token and the
// request id to the gRPC server, which authenticates and authorizes the
// call as it does any other.
func rpcContext(r *http.Request, token string) context.Context {
	return metadata.AppendToOutgoingContext(r.Context(), "authorization", "Bearer "+token,
		"x-request-id", r.Header.Get(rest.RequestIDHeader))
}

// need returns the session for a page open to roles, or answers the request
// itself (sign in first; or not your page) and returns nil.
func (s *server) need(w http.ResponseWriter, r *http.Request, roles ...string) (*sessions.Session, string) {
	sess, tok := s.session(r)
	if sess == nil {
		if len(roles) == 1 && roles[0] == sessions.RoleMember {
			s.render(w, r, "nolink", page{Title: "member.title", Status: http.StatusUnauthorized})
			return nil, ""
		}
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return nil, ""
	}
	for _, role := range roles {
		if sess.Role == role {
			return sess, tok
		}
	}
	s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusForbidden, Error: "error.forbidden"})
	return nil, ""
}

// fail shows an RPC's refusal as a page with the matching HTTP status.
func (s *server) fail(w http.ResponseWriter, r *http.Request, sess *sessions.Session, err error) {
	st := status.Convert(err)
	msg, code := "error.internal", http.StatusInternalServerError
	switch st.Code() {
	case codes.PermissionDenied:
		msg, code = "error.forbidden", http.StatusForbidden
	case codes.Unauthenticated:
		msg, code = "error.signin", http.StatusUnauthorized
	case codes.NotFound:
		msg, code = "error.notfound", http.StatusNotFound
	case codes.InvalidArgument:
		msg, code = "error.invalid", http.StatusBadRequest
	case codes.FailedPrecondition:
		msg, code = "error.notyet", http.StatusConflict
	case codes.Unavailable, codes.DeadlineExceeded:
		msg, code = "error.unavailable", http.StatusServiceUnavailable
	default:
		s.cfg.Log.ErrorContext(r.Context(), "page call failed", "path", r.URL.Path, "code", st.Code().String())
	}
	s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: code, Error: msg})
}

func (s *server) home(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.session(r)
	if sess != nil {
		http.Redirect(w, r, homeOf(sess.Role), http.StatusSeeOther)
		return
	}
	s.render(w, r, "home", page{Title: "home.title"})
}

func homeOf(role string) string {
	switch role {
	case sessions.RoleFinance:
		return "/finance"
	case sessions.RoleOperator:
		return "/operator"
	case sessions.RolePartnerAdmin, sessions.RolePartnerFinance, sessions.RolePartnerMarketing:
		return "/partner"
	}
	return "/member"
}

func (s *server) signInForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "signin", page{Title: "signin.title", Data: safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a post-sign-in redirect on this site: it returns next if
// it is a plain path of this site, else "" (the person's home page).
// Browsers forgive a lot in a Location: they drop tabs and newlines and
// read a backslash as a slash, so "/\t/evil.example" or "/\\evil.example"
// leaves the site as surely as "//evil.example" does. So only printable
// ASCII without spaces, backslashes or "//" passes, checked once more after
// unescaping, in case the value was escaped twice.
func safeNext(next string) string {
	unescaped, err := url.PathUnescape(next)
	if err != nil || !strings.HasPrefix(next, "/") {
		return ""
	}
	for _, v := range []string{next, unescaped} {
		if strings.Contains(v, "//") || strings.Contains(v, `\`) {
			return ""
		}
		for i := 0; i < len(v); i++ {
			if v[i] <= ' ' || v[i] >= 0x7f {
				return ""
			}
		}
	}
	return next
}

func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r, nil) {
		return
	}
	next := safeNext(r.PostFormValue("next"))
	sess, tok, err := s.cfg.Sessions.SignInStaff(r.Context(), r.PostFormValue("credential"))
	if errors.Is(err, sessions.ErrBadCredential) {
		s.render(w, r, "signin", page{Title: "signin.title", Data: next, Status: http.StatusUnauthorized, Error: "signin.bad"})
		return
	}
	if err != nil {
		s.cfg.Log.ErrorContext(r.Context(), "sign in", "error", err)
		s.render(w, r, "signin", page{Title: "signin.title", Data: next, Status: http.StatusServiceUnavailable, Error: "error.unavailable"})
		return
	}
	s.setSession(w, tok, sess.ExpiresAt)
	if next == "" {
		next = homeOf(sess.Role)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	sess, tok := s.session(r)
	if sess != nil {
		if !s.checkCSRF(w, r, sess) {
			return
		}
		if err := s.cfg.Sessions.End(r.Context(), tok); err != nil {
			s.cfg.Log.ErrorContext(r.Context(), "sign out", "error", err)
			s.fail(w, r, sess, status.Error(codes.Unavailable, "sign out"))
			return
		}
	}
	s.setSession(w, "", time.Time{})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// linkForm asks the member to confirm before the link is used up: a GET
// must not spend it, or a messenger's link preview would.
func (s *server) linkForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "link", page{Title: "link.title", Data: r.PathValue("code")})
}

func (s *server) openLink(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r, nil) {
		return
	}
	sess, tok, err := s.cfg.Sessions.OpenMemberLink(r.Context(), r.PathValue("code"))
	if errors.Is(err, sessions.ErrBadLink) {
		s.render(w, r, "link", page{Title: "link.title", Status: http.StatusGone, Error: "link.bad"})
		return
	}
	if err != nil {
		s.cfg.Log.ErrorContext(r.Context(), "open member link", "error", err)
		s.render(w, r, "link", page{Title: "link.title", Status: http.StatusServiceUnavailable, Error: "error.unavailable"})
		return
	}
	s.setSession(w, tok, sess.ExpiresAt)
	http.Redirect(w, r, "/member", http.StatusSeeOther)
}

// setSession sets (or, with an empty token, clears) the session cookie:
// HttpOnly so scripts cannot read it, SameSite=Strict so no other site's
// page can send it, Secure when served over TLS.
func (s *server) setSession(w http.ResponseWriter, tok string, until time.Time) {
	c := &http.Cookie{Name: rest.SessionCookie, Value: tok, Path: "/", HttpOnly: true, Secure: s.cfg.Secure,
		SameSite: http.SameSiteStrictMode}
	if tok == "" {
		c.MaxAge = -1
	} else {
		c.Expires = until
	}
	http.SetCookie(w, c)
}

// csrfToken is the token forms must echo: the session's own, or before
// sign-in a random one kept in a cookie (double submit).
func (s *server) csrfToken(w http.ResponseWriter, r *http.Request, sess *sessions.Session) string {
	if sess != nil {
		return sess.CSRF
	}
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true, Secure: s.cfg.Secure,
		SameSite: http.SameSiteStrictMode})
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: tok})
	return tok
}

// checkCSRF refuses a POST whose form does not echo the expected token, or
// that comes from another site's page.
func (s *server) checkCSRF(w http.ResponseWriter, r *http.Request, sess *sessions.Session) bool {
	want := ""
	if sess != nil {
		want = sess.CSRF
	} else if c, err := r.Cookie(csrfCookie); err == nil {
		want = c.Value
	}
	got := r.PostFormValue("csrf")
	origin := r.Header.Get("Origin")
	sameOrigin := origin == "" || strings.TrimPrefix(strings.TrimPrefix(origin, "https://"), "http://") == r.Host
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 || !sameOrigin {
		s.render(w, r, "error", page{Title: "error.title", Session: sess, Status: http.StatusForbidden, Error: "error.csrf"})
		return false
	}
	return true
}

// names are the partners' names by code, or none (the pages show codes) if
// they cannot be read.
func (s *server) names(r *http.Request) map[string]string {
	if s.cfg.PartnerNames == nil {
		return nil
	}
	m, err := s.cfg.PartnerNames(r.Context())
	if err != nil {
		s.cfg.Log.WarnContext(r.Context(), "partner names", "error", err)
		return nil
	}
	return m
}
