package web

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/enrolment"
)

// Enrolment is self-enrolment by QR (*enrolment.Service).
type Enrolment interface {
	Point(ctx context.Context, partner, location string) (enrolment.Point, error)
	Start(ctx context.Context, req enrolment.Request) (enrolment.Challenge, error)
	Verify(ctx context.Context, v enrolment.Verification) (enrolment.Result, error)
}

// Join configures the pages of self-enrolment by QR: /join/{partner}
// (?at={point of sale}), its code step and the printable poster.
type Join struct {
	Enrolment Enrolment
	// Programme is the coalition's name, on the pages, the poster and in
	// the message with the code.
	Programme string
	// Contact is what the form asks for (a phone number if empty).
	Contact enrolment.ContactKind
	// The programme's terms a person accepts: their version (recorded)
	// and where to read them ("": no link).
	TermsVersion, TermsURL string
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client, for the per-address limit; from anywhere else the
	// connection's own address counts.
	TrustedProxies []netip.Prefix
}

// joinCookie holds, between the two steps, the token of the code sent and
// the contact it went to: in the browser, not in the page, so that the
// pages before the code is verified are the same for everyone.
const joinCookie = "coalition_join"

// joinData is what the join pages show.
type joinData struct {
	Point     enrolment.Point
	Programme string
	Email     bool   // the form asks for an e-mail address
	Value     string // what was typed, on a refused form
	Masked    string // the code step: where the code went
	Left      int    // a wrong code: the attempts left
	Terms     string // the terms' URL
	Version   string // the terms' version
	Again     string // back to the first step
	Link      string // the poster: the enrolment link
	QR        template.HTML
}

func (s *server) mountJoin(mux *http.ServeMux) {
	if s.cfg.Join == nil {
		return
	}
	mux.HandleFunc("GET /join/{partner}", s.joinForm)
	mux.HandleFunc("POST /join/{partner}", s.joinStart)
	mux.HandleFunc("GET /join/{partner}/code", s.joinCodeForm)
	mux.HandleFunc("POST /join/{partner}/code", s.joinVerify)
	mux.HandleFunc("GET /join/{partner}/poster", s.joinPoster)
	mux.HandleFunc("GET /join/{partner}/qr.svg", s.joinQR)
}

// joinPoint is the enrolment point of the request's path and ?at= (or the
// form's at), or nil after a 404 page.
func (s *server) joinPoint(w http.ResponseWriter, r *http.Request, at string) *enrolment.Point {
	pt, err := s.cfg.Join.Enrolment.Point(r.Context(), r.PathValue("partner"), at)
	if errors.Is(err, enrolment.ErrNoPoint) {
		s.render(w, r, "error", page{Title: "error.title", Status: http.StatusNotFound, Error: "join.nopoint"})
		return nil
	}
	if err != nil {
		s.cfg.Log.ErrorContext(r.Context(), "enrolment point", "error", err)
		s.render(w, r, "error", page{Title: "error.title", Status: http.StatusServiceUnavailable, Error: "error.unavailable"})
		return nil
	}
	return &pt
}

// joinPath is a join page's path for the point, with ?at= if it names a
// point of sale.
func joinPath(pt enrolment.Point, suffix string) string {
	p := "/join/" + pt.Partner.Code + suffix
	if pt.Location != "" {
		p += "?at=" + url.QueryEscape(pt.Location)
	}
	return p
}

// atQuery keeps the point of sale in the language switch's link.
func atQuery(pt enrolment.Point) template.URL {
	if pt.Location == "" {
		return ""
	}
	return template.URL(url.Values{"at": {pt.Location}}.Encode())
}

func (s *server) joinData(pt enrolment.Point) joinData {
	j := s.cfg.Join
	return joinData{Point: pt, Programme: j.Programme, Email: j.Contact == enrolment.Email, Terms: j.TermsURL,
		Version: j.TermsVersion, Again: joinPath(pt, "")}
}

func (s *server) joinForm(w http.ResponseWriter, r *http.Request) {
	pt := s.joinPoint(w, r, r.URL.Query().Get("at"))
	if pt == nil {
		return
	}
	s.render(w, r, "join", page{Title: "join.title", Query: atQuery(*pt), Data: s.joinData(*pt)})
}

// joinStart sends a code and moves on to the code step; its answer is the
// same whether or not the contact is a member's.
func (s *server) joinStart(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r, nil) {
		return
	}
	pt := s.joinPoint(w, r, r.PostFormValue("at"))
	if pt == nil {
		return
	}
	lng := lang(w, r)
	t := translator(lng)
	d := s.joinData(*pt)
	typed := r.PostFormValue("contact")
	ch, err := s.cfg.Join.Enrolment.Start(r.Context(), enrolment.Request{Point: *pt, Contact: typed,
		Client: clientAddr(r, s.cfg.Join.TrustedProxies),
		Message: func(code string) string {
			return fmt.Sprintf(t("join.message"), code, s.cfg.Join.Programme)
		}})
	if err != nil {
		p := page{Title: "join.title", Path: "/join/" + pt.Partner.Code, Query: atQuery(*pt), Data: d}
		switch {
		case errors.Is(err, enrolment.ErrContact):
			// Kept, to be corrected; after any other refusal the form is
			// blank, the same for every number.
			d.Value = typed
			p.Data, p.Status, p.Error = d, http.StatusBadRequest, "join.badphone"
			if d.Email {
				p.Error = "join.bademail"
			}
		case errors.Is(err, enrolment.ErrTooMany):
			p.Status, p.Error = http.StatusTooManyRequests, "join.toomany"
		case errors.Is(err, enrolment.ErrUndelivered):
			p.Status, p.Error = http.StatusServiceUnavailable, "join.unsent"
		default:
			s.cfg.Log.ErrorContext(r.Context(), "start enrolment", "error", err)
			p.Status, p.Error = http.StatusServiceUnavailable, "error.unavailable"
		}
		s.render(w, r, "join", p)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: joinCookie, Value: ch.Token + "." + base64.RawURLEncoding.EncodeToString([]byte(ch.Contact)),
		Path: "/join/", MaxAge: int(enrolment.CodeTTL / time.Second), HttpOnly: true, Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, joinPath(*pt, "/code"), http.StatusSeeOther)
}

// joinChallenge reads the code's token and contact from the cookie.
func joinChallenge(r *http.Request) (token, contact string, ok bool) {
	c, err := r.Cookie(joinCookie)
	if err != nil {
		return "", "", false
	}
	token, enc, ok := strings.Cut(c.Value, ".")
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if !ok || err != nil || token == "" || len(b) == 0 {
		return "", "", false
	}
	return token, string(b), true
}

func (s *server) joinCodeForm(w http.ResponseWriter, r *http.Request) {
	pt := s.joinPoint(w, r, r.URL.Query().Get("at"))
	if pt == nil {
		return
	}
	_, contact, ok := joinChallenge(r)
	if !ok {
		// No code asked for in this browser (or it lapsed): start over.
		http.Redirect(w, r, joinPath(*pt, ""), http.StatusSeeOther)
		return
	}
	d := s.joinData(*pt)
	d.Masked = enrolment.Mask(s.cfg.Join.Contact, contact)
	s.render(w, r, "joincode", page{Title: "join.code.title", Query: atQuery(*pt), Data: d})
}

// joinVerify checks the code and, if right, signs the member in (enrolled
// now, or already) and opens their card.
func (s *server) joinVerify(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r, nil) {
		return
	}
	pt := s.joinPoint(w, r, r.PostFormValue("at"))
	if pt == nil {
		return
	}
	token, contact, _ := joinChallenge(r)
	res, err := s.cfg.Join.Enrolment.Verify(r.Context(), enrolment.Verification{Token: token, Contact: contact,
		Code: r.PostFormValue("code"), Consent: r.PostFormValue("consent") == "yes"})
	if err != nil {
		d := s.joinData(*pt)
		d.Masked = enrolment.Mask(s.cfg.Join.Contact, contact)
		p := page{Title: "join.code.title", Path: "/join/" + pt.Partner.Code + "/code", Query: atQuery(*pt), Data: d}
		var wrong enrolment.WrongCode
		switch {
		case errors.As(err, &wrong):
			d.Left = wrong.Left
			p.Data, p.Status, p.Error = d, http.StatusBadRequest, "join.wrongcode"
		case errors.Is(err, enrolment.ErrConsent):
			p.Status, p.Error = http.StatusBadRequest, "join.consent"
		case errors.Is(err, enrolment.ErrTooMany):
			p.Status, p.Error = http.StatusTooManyRequests, "join.toomany"
		case errors.Is(err, enrolment.ErrExpired):
			p.Status, p.Error = http.StatusGone, "join.expired"
		default:
			s.cfg.Log.ErrorContext(r.Context(), "verify enrolment code", "error", err)
			p.Status, p.Error = http.StatusServiceUnavailable, "error.unavailable"
		}
		s.render(w, r, "joincode", p)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: joinCookie, Path: "/join/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.Secure,
		SameSite: http.SameSiteStrictMode})
	s.setSession(w, res.SessionToken, res.Session.ExpiresAt)
	http.Redirect(w, r, "/member", http.StatusSeeOther)
}

// joinLink is the enrolment link a QR code carries.
func (s *server) joinLink(pt enrolment.Point) string {
	return strings.TrimSuffix(s.cfg.PublicURL, "/") + joinPath(pt, "")
}

// joinPoster is the printable poster of an enrolment point: the QR code
// big, the programme's name and one line of instructions.
func (s *server) joinPoster(w http.ResponseWriter, r *http.Request) {
	pt := s.joinPoint(w, r, r.URL.Query().Get("at"))
	if pt == nil {
		return
	}
	d := s.joinData(*pt)
	d.Link = s.joinLink(*pt)
	qr, err := qrSVG(d.Link)
	if err != nil {
		s.cfg.Log.ErrorContext(r.Context(), "poster QR code", "error", err)
		s.render(w, r, "error", page{Title: "error.title", Status: http.StatusInternalServerError, Error: "error.internal"})
		return
	}
	d.QR = qr
	s.render(w, r, "poster", page{Title: "join.poster.title", Query: atQuery(*pt), Data: d})
}

// joinQR is an enrolment point's QR code alone, as an SVG file for
// printers and designers.
func (s *server) joinQR(w http.ResponseWriter, r *http.Request) {
	pt := s.joinPoint(w, r, r.URL.Query().Get("at"))
	if pt == nil {
		return
	}
	qr, err := qrSVG(s.joinLink(*pt))
	if err != nil {
		s.cfg.Log.ErrorContext(r.Context(), "QR code", "error", err)
		http.Error(w, "QR code", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	name := "join-" + pt.Partner.Code
	if pt.Location != "" {
		name += "-" + pt.Location
	}
	w.Header().Set("Content-Disposition", `inline; filename="`+name+`.svg"`)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + string(qr)))
}

// clientAddr is the address a request came from: the connection's, or,
// when the connection comes from a trusted proxy, the last address in
// X-Forwarded-For that is not one of the trusted proxies (each proxy
// appends the address it was reached from; what a client wrote itself
// comes before and is not believed).
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(addr) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // garbage: the nearest proxy's word is all there is
		}
		a = a.Unmap()
		if !isTrusted(a) {
			return a
		}
		addr = a
	}
	return addr
}

// The join pages' texts, kept beside them and merged into messages.
var joinMessages = map[string][2]string{
	"join.title":           {"Get your points card", "Получите карту баллов"},
	"join.lead":            {"Earn points at %s and spend them at every partner of the programme. It takes a minute.", "Копите баллы в «%s» и тратьте их у любого партнёра программы. Это займёт минуту."},
	"join.phone":           {"Mobile number", "Номер мобильного"},
	"join.phone.hint":      {"With the country code. We will send a 6-digit code to it by SMS.", "С кодом страны. Мы пришлём на него код из 6 цифр в SMS."},
	"join.email":           {"E-mail address", "Адрес электронной почты"},
	"join.email.hint":      {"We will send a 6-digit code to it.", "Мы пришлём на него код из 6 цифр."},
	"join.send":            {"Send me the code", "Прислать код"},
	"join.badphone":        {"Enter the number with its country code, e.g. +7 900 123-45-67.", "Введите номер с кодом страны, например +7 900 123-45-67."},
	"join.bademail":        {"Enter an e-mail address, e.g. name@example.com.", "Введите адрес почты, например name@example.com."},
	"join.toomany":         {"Too many attempts, try again later.", "Слишком много попыток, попробуйте позже."},
	"join.unsent":          {"We could not send the code just now. Try again in a minute.", "Не удалось отправить код. Попробуйте через минуту."},
	"join.nopoint":         {"This enrolment link is not valid. Ask at the counter for the current QR code.", "Ссылка для регистрации недействительна. Спросите актуальный QR-код на кассе."},
	"join.code.title":      {"Enter the code", "Введите код"},
	"join.code.lead":       {"We sent a 6-digit code to %s. It works for 10 minutes.", "Мы отправили код из 6 цифр на %s. Он действует 10 минут."},
	"join.code":            {"Code", "Код"},
	"join.consent.label":   {"I accept", "Я принимаю"},
	"join.terms":           {"the programme's terms", "условия программы"},
	"join.version":         {"version", "версия"},
	"join.verify":          {"Get my card", "Получить карту"},
	"join.again":           {"Send a new code or change the number", "Прислать новый код или изменить номер"},
	"join.wrongcode":       {"That code is not right. Check the message and try again.", "Код неверный. Проверьте сообщение и попробуйте ещё раз."},
	"join.left":            {"Attempts left for this code: %d.", "Осталось попыток для этого кода: %d."},
	"join.consent":         {"Tick the box to accept the programme's terms.", "Отметьте, что принимаете условия программы."},
	"join.expired":         {"This code has expired or was already used. Ask for a new one.", "Код истёк или уже использован. Запросите новый."},
	"join.message":         {"%s is your %s code.\nIt works for 10 minutes; do not share it.", "%s — ваш код для программы «%s».\nОн действует 10 минут, никому его не сообщайте."},
	"join.poster.title":    {"Enrolment poster", "Плакат для регистрации"},
	"join.poster.headline": {"Get your points card at %s", "Получите карту баллов в «%s»"},
	"join.poster.line":     {"Point your phone's camera at the code, enter your number and the code we send you: your card is ready.", "Наведите камеру телефона на код, введите номер и присланный код — карта готова."},
	"join.poster.about":    {"About this poster", "Об этом плакате"},
	"join.poster.print":    {"Print this page (the browser's Print): only the poster is printed. One poster per point of sale tells where members joined.", "Распечатайте страницу (Печать в браузере): печатается только плакат. Отдельный плакат для каждой точки продаж покажет, где участники присоединились."},
	"join.poster.at":       {"Point of sale code", "Код точки продаж"},
	"join.poster.show":     {"Show its poster", "Показать плакат"},
	"join.poster.svg":      {"Download the QR code (SVG)", "Скачать QR-код (SVG)"},
	"operator.join":        {"Joining", "Регистрация"},
	"operator.poster":      {"QR poster", "QR-плакат"},
}

func init() {
	for k, v := range joinMessages {
		messages[k] = v
	}
}
