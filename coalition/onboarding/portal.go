package onboarding

import (
	"context"
	"fmt"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// Portal is a partner's certificates as the partner's own admin manages
// them in the partner portal: every call is narrowed to one partner, and a
// certificate of another partner is not found.
//
// CA issues and revokes partner certificates. The server's own Vault
// policy may do neither (a server that could mint partner identities would
// be one more thing to steal), so CA is a separate credential with the
// coalition-partner-ca policy, given to the server only where partners are
// to serve themselves; without it the portal lists the certificates and
// the operator issues and revokes them (coalitionctl partners issue-cert,
// revoke-cert).
type Portal struct {
	CA  *vault.Client
	Reg *partners.Register
	TTL time.Duration // zero: DefaultTTL
}

// Issuing says whether the partner's admin may issue and revoke here.
func (p Portal) Issuing() bool { return p.CA != nil }

// ListOf lists the partner's certificates, newest first.
func (p Portal) ListOf(ctx context.Context, partner coalition.PartnerID) ([]partners.Certificate, error) {
	return p.Reg.Certificates(ctx, partner)
}

// IssueFor issues the partner a new certificate, as rotate-cert does: its
// older certificates stay valid until they expire or are revoked, so that
// the partner's systems switch over without a gap.
func (p Portal) IssueFor(ctx context.Context, partner coalition.PartnerID) (vault.Bundle, error) {
	if p.CA == nil {
		return vault.Bundle{}, coalition.Errorf(coalition.FailedPrecondition, "certificate", "certificates are issued by the coalition's operator")
	}
	pt, err := p.Reg.ByID(ctx, partner)
	if err != nil {
		return vault.Bundle{}, err
	}
	return Issue(ctx, p.CA, p.Reg, pt, p.TTL)
}

// RevokeOf revokes the partner's certificate by serial. Revoking one
// already revoked changes nothing and is no error, so a form sent twice
// does no harm.
func (p Portal) RevokeOf(ctx context.Context, partner coalition.PartnerID, serial string) error {
	c, err := p.Reg.CertificateOf(ctx, partner, serial)
	if err != nil {
		return err
	}
	if c.RevokedAt != nil {
		return nil
	}
	if p.CA == nil {
		return coalition.Errorf(coalition.FailedPrecondition, "certificate", "certificates are revoked by the coalition's operator")
	}
	if err := RevokeCertificate(ctx, p.CA, p.Reg, c.Serial); err != nil {
		if e, ok := coalition.AsError(err); ok && e.Code == coalition.NotFound {
			return nil // revoked meanwhile by another request: as asked
		}
		return fmt.Errorf("revoke certificate of %s: %w", partner, err)
	}
	return nil
}
