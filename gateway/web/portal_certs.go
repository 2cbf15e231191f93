package web

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"html/template"
	"net/http"
	"regexp"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// The partner portal's certificates page: the partner's client
// certificates (its systems' mutual TLS identity) for its admin to list,
// issue and revoke. The private key of a certificate issued here is shown
// once, in the answer to the form, and is kept nowhere: not in the
// database, not in a log, not in a cache (the page is no-store).

// PartnerCerts is what the portal needs of the partner's certificates
// (*onboarding.Portal): every call names the partner it is narrowed to,
// and a certificate of another partner is not found.
type PartnerCerts interface {
	// Issuing says whether the partner's admin may issue and revoke here;
	// otherwise the operator does, and the page only lists.
	Issuing() bool
	ListOf(ctx context.Context, partner coalition.PartnerID) ([]partners.Certificate, error)
	IssueFor(ctx context.Context, partner coalition.PartnerID) (vault.Bundle, error)
	RevokeOf(ctx context.Context, partner coalition.PartnerID, serial string) error
}

// CertExpiringWithin is how soon before its end a certificate shows as
// expiring: a third of the 90 days one lives, time enough to rotate.
const CertExpiringWithin = 30 * 24 * time.Hour

// Vault writes serials as colon-separated hex pairs.
var serialPattern = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){0,39}$`)

type certsData struct {
	Certs   []partners.Certificate
	Code    string // the partner's, the certificates' common name
	Issuing bool
	Now     time.Time
	// Issued is a certificate just issued, with its files as links the
	// browser saves (data: URLs, so the key never travels twice).
	Issued *issuedCert
	// Confirm is the certificate whose revocation awaits confirmation.
	Confirm *partners.Certificate
}

type issuedCert struct {
	Serial          string
	NotAfter        time.Time
	Cert, Key, CA   template.URL
	KeyPEM, CertPEM string
}

// State is a certificate's state now: active, expiring (within
// CertExpiringWithin), expired or revoked.
func (d certsData) State(c partners.Certificate) string {
	switch {
	case c.RevokedAt != nil:
		return "revoked"
	case !d.Now.Before(c.NotAfter):
		return "expired"
	case c.NotAfter.Sub(d.Now) <= CertExpiringWithin:
		return "expiring"
	}
	return "active"
}

// When is a time as the page shows it.
func (d certsData) When(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func pemURL(pem string) template.URL {
	// Safe as a URL: the scheme is fixed and the data base64.
	return template.URL("data:application/x-pem-file;base64," + base64.StdEncoding.EncodeToString([]byte(pem)))
}

func (s *server) portalCertList(w http.ResponseWriter, r *http.Request, c portalCaller, d certsData, status int) {
	if s.cfg.PartnerCerts == nil {
		s.render(w, r, "error", page{Title: "error.title", Session: c.sess, Status: http.StatusServiceUnavailable, Error: "error.unavailable"})
		return
	}
	cs, err := s.cfg.PartnerCerts.ListOf(r.Context(), c.sess.PartnerID)
	if err != nil {
		s.portalKeyFailed(w, r, c, err)
		return
	}
	d.Certs, d.Code, d.Issuing, d.Now = cs, c.code, s.cfg.PartnerCerts.Issuing(), s.cfg.Now()
	s.render(w, r, "partnercerts", page{Title: "portal.certs", Path: "/partner/certificates", Session: c.sess,
		Data: portalData{Caller: c, Data: d}, Status: status})
}

func (s *server) portalCerts(w http.ResponseWriter, r *http.Request, c portalCaller) {
	s.portalCertList(w, r, c, certsData{}, 0)
}

// portalIssueCert issues the partner a new certificate: a first one, or a
// rotation (the older ones stay valid until revoked, so the partner's
// systems switch over without a gap).
func (s *server) portalIssueCert(w http.ResponseWriter, r *http.Request, c portalCaller) {
	if s.cfg.PartnerCerts == nil {
		s.portalCertList(w, r, c, certsData{}, 0)
		return
	}
	b, err := s.cfg.PartnerCerts.IssueFor(r.Context(), c.sess.PartnerID)
	if err != nil {
		s.portalCertFailed(w, r, c, err)
		return
	}
	s.cfg.Log.InfoContext(r.Context(), "partner certificate issued", "partner", c.code, "serial", b.Serial, "by", c.sess.CredentialID)
	// The bundle as coalitionctl writes it: the certificate with its chain,
	// the key, and the chain that signs the server's certificate too.
	chain := b.CertPEM + "\n" + b.CAChainPEM + "\n"
	s.portalCertList(w, r, c, certsData{Issued: &issuedCert{Serial: b.Serial, NotAfter: b.NotAfter,
		Cert: pemURL(chain), Key: pemURL(b.KeyPEM + "\n"), CA: pemURL(b.CAChainPEM + "\n"),
		KeyPEM: b.KeyPEM, CertPEM: b.CertPEM}}, 0)
}

// portalRevokeCert revokes one of the partner's certificates: the first
// form asks to confirm (a revoked certificate is refused within the
// servers' revocation-list refresh, and cannot be restored), the second,
// with confirm=yes, revokes and shows the list again.
func (s *server) portalRevokeCert(w http.ResponseWriter, r *http.Request, c portalCaller) {
	serial := r.PathValue("serial")
	if s.cfg.PartnerCerts == nil {
		s.portalCertList(w, r, c, certsData{}, 0)
		return
	}
	if !serialPattern.MatchString(serial) {
		s.portalCertFailed(w, r, c, coalition.Errorf(coalition.NotFound, "serial", "no certificate %q", serial))
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		cs, err := s.cfg.PartnerCerts.ListOf(r.Context(), c.sess.PartnerID)
		if err != nil {
			s.portalCertFailed(w, r, c, err)
			return
		}
		for _, x := range cs {
			if x.Serial == serial {
				s.portalCertList(w, r, c, certsData{Confirm: &x}, 0)
				return
			}
		}
		s.portalCertFailed(w, r, c, coalition.Errorf(coalition.NotFound, "serial", "no certificate %q", serial))
		return
	}
	if err := s.cfg.PartnerCerts.RevokeOf(r.Context(), c.sess.PartnerID, serial); err != nil {
		s.portalCertFailed(w, r, c, err)
		return
	}
	s.cfg.Log.InfoContext(r.Context(), "partner certificate revoked", "partner", c.code, "serial", serial, "by", c.sess.CredentialID)
	http.Redirect(w, r, "/partner/certificates", http.StatusSeeOther)
}

// portalCertsCSV is the certificates table as CSV.
func (s *server) portalCertsCSV(w http.ResponseWriter, r *http.Request, c portalCaller) {
	if s.cfg.PartnerCerts == nil {
		s.portalCertList(w, r, c, certsData{}, 0)
		return
	}
	cs, err := s.cfg.PartnerCerts.ListOf(r.Context(), c.sess.PartnerID)
	if err != nil {
		s.portalCertFailed(w, r, c, err)
		return
	}
	d := certsData{Now: s.cfg.Now()}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="certificates-`+c.code+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"serial", "common_name", "not_before", "not_after", "state", "revoked_at"})
	for _, x := range cs {
		revoked := ""
		if x.RevokedAt != nil {
			revoked = x.RevokedAt.UTC().Format(time.RFC3339)
		}
		cw.Write([]string{x.Serial, c.code, x.IssuedAt.UTC().Format(time.RFC3339), x.NotAfter.UTC().Format(time.RFC3339), d.State(x), revoked})
	}
	if cw.Flush(); cw.Error() != nil {
		s.cfg.Log.ErrorContext(r.Context(), "certificates csv", "error", cw.Error())
	}
}

// portalCertFailed answers as the keys pages do, and says so when issuing
// and revoking are the operator's here.
func (s *server) portalCertFailed(w http.ResponseWriter, r *http.Request, c portalCaller, err error) {
	if e, ok := coalition.AsError(err); ok && e.Code == coalition.FailedPrecondition {
		s.render(w, r, "error", page{Title: "error.title", Session: c.sess, Status: http.StatusConflict, Error: "portal.certs.operator"})
		return
	}
	s.portalKeyFailed(w, r, c, err)
}
