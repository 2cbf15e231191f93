// Package wallet serves the wallet passes over HTTP: Apple's PassKit web
// service under /wallet/apple/v1/ (devices register a pass, ask what
// changed, fetch the latest pass and send their logs, each request about a
// pass with its "ApplePass" token), and the signed-in member's own
// endpoints: the .pkpass download, the "Save to Google Wallet" redirect and
// the switch for messages on the pass. The work is package passes'; this
// package decodes, checks and maps answers.
package wallet

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/passes"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
	"github.com/coalition-loyalty/coalition/gateway/rest"
)

// Passes is the pass service (*passes.Service).
type Passes interface {
	AppleOn() bool
	GoogleOn() bool
	Register(ctx context.Context, device, passType, serial, token, pushToken string) (created bool, err error)
	Unregister(ctx context.Context, device, passType, serial, token string) error
	UpdatedSerials(ctx context.Context, device, passType, since string) (passes.Updated, bool, error)
	LatestPass(ctx context.Context, passType, serial, token string, ifModifiedSince time.Time) (passes.Latest, error)
	Log(ctx context.Context, lines []string)
	MemberPass(ctx context.Context, member coalition.MemberID) ([]byte, error)
	GoogleSaveLink(ctx context.Context, member coalition.MemberID) (string, error)
	SetNotifications(ctx context.Context, member coalition.MemberID, on bool) error
}

// Sessions checks a member's web session (*sessions.Store).
type Sessions interface {
	Check(ctx context.Context, token string) (sessions.Session, error)
}

// Config wires the handler.
type Config struct {
	Passes   Passes
	Sessions Sessions
	Log      *slog.Logger
}

type handler struct {
	cfg  Config
	logo []byte
}

// Handler returns the wallet endpoints, to be mounted at the root of the
// HTTP server beside the web pages: it answers /wallet/… and three paths
// under /member/.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	logo, err := logoPNG()
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, logo: logo}
	mux := http.NewServeMux()
	const v1 = "/wallet/apple/v1"
	mux.HandleFunc("POST "+v1+"/devices/{device}/registrations/{passType}/{serial}", h.register)
	mux.HandleFunc("DELETE "+v1+"/devices/{device}/registrations/{passType}/{serial}", h.unregister)
	mux.HandleFunc("GET "+v1+"/devices/{device}/registrations/{passType}", h.updated)
	mux.HandleFunc("GET "+v1+"/passes/{passType}/{serial}", h.latest)
	mux.HandleFunc("POST "+v1+"/log", h.log)
	mux.HandleFunc("GET /wallet/logo.png", h.logoImage)
	mux.HandleFunc("GET /member/pass.pkpass", h.memberPass)
	mux.HandleFunc("GET /member/google-wallet", h.googleWallet)
	mux.HandleFunc("POST /member/pass-notifications", h.notifications)
	return mux, nil
}

// Paths the handler answers, for the server's mux.
var Paths = []string{"/wallet/", "GET /member/pass.pkpass", "GET /member/google-wallet", "POST /member/pass-notifications"}

// token is the pass's authentication token from "Authorization: ApplePass
// <token>".
func token(r *http.Request) string {
	t, _ := strings.CutPrefix(r.Header.Get("Authorization"), "ApplePass ")
	return strings.TrimSpace(t)
}

// fail answers an error of the pass service.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch e, ok := coalition.AsError(err); {
	case errors.Is(err, passes.ErrUnauthorized):
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	case errors.Is(err, passes.ErrOff):
		http.Error(w, "this wallet is not offered", http.StatusNotFound)
	case ok && e.Code == coalition.Invalid:
		http.Error(w, e.Error(), http.StatusBadRequest)
	case ok && e.Code == coalition.NotFound:
		http.Error(w, "not found", http.StatusNotFound)
	case r.Context().Err() != nil:
		// The client went away; nothing to answer.
	default:
		h.cfg.Log.ErrorContext(r.Context(), "wallet request failed", "path", r.Pattern, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func (h *handler) register(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PushToken string `json:"pushToken"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
		http.Error(w, "the body must be {\"pushToken\": …}", http.StatusBadRequest)
		return
	}
	created, err := h.cfg.Passes.Register(r.Context(), r.PathValue("device"), r.PathValue("passType"), r.PathValue("serial"), token(r), body.PushToken)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if created {
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *handler) unregister(w http.ResponseWriter, r *http.Request) {
	if err := h.cfg.Passes.Unregister(r.Context(), r.PathValue("device"), r.PathValue("passType"), r.PathValue("serial"), token(r)); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *handler) updated(w http.ResponseWriter, r *http.Request) {
	u, ok, err := h.cfg.Passes.UpdatedSerials(r.Context(), r.PathValue("device"), r.PathValue("passType"), r.URL.Query().Get("passesUpdatedSince"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(u)
}

func (h *handler) latest(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.Header.Get("If-Modified-Since"); v != "" {
		since, _ = http.ParseTime(v) // unreadable: no condition
	}
	l, err := h.cfg.Passes.LatestPass(r.Context(), r.PathValue("passType"), r.PathValue("serial"), token(r), since)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Last-Modified", l.LastModified.UTC().Format(http.TimeFormat))
	w.Header().Set("Cache-Control", "no-cache")
	if l.NotModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", pkpass.ContentType)
	w.Write(l.Archive)
}

func (h *handler) log(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Logs []string `json:"logs"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil {
		http.Error(w, "the body must be {\"logs\": […]}", http.StatusBadRequest)
		return
	}
	h.cfg.Passes.Log(r.Context(), body.Logs)
	w.WriteHeader(http.StatusOK)
}

func (h *handler) logoImage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(h.logo)
}

// member returns the signed-in member's session, or answers the request
// itself (401) and returns nil.
func (h *handler) member(w http.ResponseWriter, r *http.Request) *sessions.Session {
	c, err := r.Cookie(rest.SessionCookie)
	if err == nil && c.Value != "" {
		sess, err := h.cfg.Sessions.Check(r.Context(), c.Value)
		if err == nil && sess.Role == sessions.RoleMember {
			return &sess
		}
		if err != nil && !errors.Is(err, sessions.ErrNoSession) {
			h.cfg.Log.WarnContext(r.Context(), "check session", "error", err)
		}
	}
	http.Error(w, "open your card from the link your partner sent first", http.StatusUnauthorized)
	return nil
}

func (h *handler) memberPass(w http.ResponseWriter, r *http.Request) {
	sess := h.member(w, r)
	if sess == nil {
		return
	}
	archive, err := h.cfg.Passes.MemberPass(r.Context(), sess.MemberID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", pkpass.ContentType)
	w.Header().Set("Content-Disposition", `attachment; filename="card.pkpass"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(archive)
}

func (h *handler) googleWallet(w http.ResponseWriter, r *http.Request) {
	sess := h.member(w, r)
	if sess == nil {
		return
	}
	link, err := h.cfg.Passes.GoogleSaveLink(r.Context(), sess.MemberID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, link, http.StatusFound)
}

// notifications turns the messages on the member's pass on or off, from
// the member page's form (which echoes the session's CSRF token).
func (h *handler) notifications(w http.ResponseWriter, r *http.Request) {
	sess := h.member(w, r)
	if sess == nil {
		return
	}
	origin := r.Header.Get("Origin")
	sameOrigin := origin == "" || strings.TrimPrefix(strings.TrimPrefix(origin, "https://"), "http://") == r.Host
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 || !sameOrigin {
		http.Error(w, "the form is stale: reload the page", http.StatusForbidden)
		return
	}
	var on bool
	switch r.PostFormValue("notifications") {
	case "on":
		on = true
	case "off":
	default:
		http.Error(w, "notifications must be on or off", http.StatusBadRequest)
		return
	}
	if err := h.cfg.Passes.SetNotifications(r.Context(), sess.MemberID, on); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/member", http.StatusSeeOther)
}

// logoPNG draws the programme's logo for Google Wallet's class (Google
// fetches it from a public https URL): a disc in the pass's colours.
func logoPNG() ([]byte, error) {
	const n = 660 // Google's recommended logo size
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	bg, fg := color.RGBA{22, 55, 110, 255}, color.RGBA{255, 255, 255, 255}
	for y := range n {
		for x := range n {
			dx, dy := x-n/2, y-n/2
			c := bg
			if dx*dx+dy*dy <= (n/4)*(n/4) {
				c = fg
			}
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
