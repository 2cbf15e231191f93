package server

import (
	"context"
	"errors"
	"net/netip"

	"github.com/coalition-loyalty/coalition/coalition/enrolment"
	"github.com/coalition-loyalty/coalition/gateway/web"
)

// JoinConfig turns on self-enrolment by QR: the pages /join/{partner}
// (?at={point of sale}), their posters, and the one-time codes that prove
// a phone number or an e-mail address.
type JoinConfig struct {
	// Sender delivers the codes (package enrolment/sender); nil: joining
	// by QR is off.
	Sender enrolment.Sender
	// Contact is what the pages ask for: a phone number (the default) or
	// an e-mail address; it must be what Sender delivers to.
	Contact enrolment.ContactKind
	// TermsVersion (required) is recorded with each member's consent;
	// TermsURL is where the pages link the terms to.
	TermsVersion, TermsURL string
	// TrustedProxies are the proxies (e.g. the load balancer) whose
	// X-Forwarded-For names the client for the per-address limit; a
	// request from anywhere else counts by its connection's address.
	TrustedProxies []netip.Prefix
}

// buildEnrolment makes the enrolment service, if joining is on. Codes are
// judged by the credentials' clock, as sessions are.
func (s *Server) buildEnrolment(context.Context) error {
	j := s.cfg.Join
	if j.Sender == nil {
		return nil
	}
	if j.TermsVersion == "" || len(j.TermsVersion) > 64 {
		return errors.New("joining by QR records the consent to the programme's terms: give --join-terms-version (1 to 64 characters)")
	}
	s.enrolment = enrolment.New(enrolment.Config{Tx: s.tx, Hasher: s.phones, Sender: j.Sender, Ledger: s.ledger,
		Partners: s.partners, Sessions: s.sessions, Contact: j.Contact, TermsVersion: j.TermsVersion,
		Clock: s.cfg.CredentialClock, Log: s.log})
	return nil
}

// joinPages configures the web pages' part of joining (nil: off).
func (s *Server) joinPages(programme string) *web.Join {
	if s.enrolment == nil {
		return nil
	}
	return &web.Join{Enrolment: s.enrolment, Programme: programme, Contact: s.enrolment.Contact(),
		TermsVersion: s.cfg.Join.TermsVersion, TermsURL: s.cfg.Join.TermsURL, TrustedProxies: s.cfg.Join.TrustedProxies}
}
