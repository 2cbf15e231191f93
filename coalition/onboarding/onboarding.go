// Package onboarding connects partners: it issues a partner's client
// certificate through Vault, records its serial and expiry, and hands the
// bundle (certificate, key, CA chain) over once, as files.
package onboarding

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// DefaultTTL is how long a partner certificate lives unless asked otherwise.
const DefaultTTL = 90 * 24 * time.Hour

// Files of a bundle, in its folder.
const (
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
	CAFile   = "ca.pem"
)

// IssueCertificate issues a certificate for the partner, records it, and
// writes the bundle into dir (the key readable by its owner only). Older
// certificates stay valid until they expire or are revoked, so a partner can
// roll over without downtime.
func IssueCertificate(ctx context.Context, v *vault.Client, reg *partners.Register, p partners.Partner, ttl time.Duration, dir string) (vault.Bundle, error) {
	b, err := Issue(ctx, v, reg, p, ttl)
	if err != nil {
		return b, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return b, err
	}
	for name, body := range map[string]string{CertFile: b.CertPEM + "\n" + b.CAChainPEM + "\n", KeyFile: b.KeyPEM + "\n", CAFile: b.CAChainPEM + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return b, fmt.Errorf("write bundle of %s: %w", p.Code, err)
		}
	}
	return b, nil
}

// Issue issues a certificate for the partner and records it; the bundle,
// with the only copy of its private key, goes to the caller to hand over.
func Issue(ctx context.Context, v *vault.Client, reg *partners.Register, p partners.Partner, ttl time.Duration) (vault.Bundle, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	b, err := v.IssuePartnerCert(ctx, p.ID, p.Code, ttl)
	if err != nil {
		return b, fmt.Errorf("issue certificate for %s: %w", p.Code, err)
	}
	if err := reg.RecordCertificate(ctx, partners.Certificate{Serial: b.Serial, PartnerID: p.ID, IssuedAt: time.Now().UTC(), NotAfter: b.NotAfter}); err != nil {
		return b, fmt.Errorf("record certificate of %s: %w", p.Code, err)
	}
	return b, nil
}

// RevokeCertificate revokes a partner's certificate in Vault and records it.
func RevokeCertificate(ctx context.Context, v *vault.Client, reg *partners.Register, serial string) error {
	if err := v.Revoke(ctx, serial); err != nil {
		return fmt.Errorf("revoke %s: %w", serial, err)
	}
	return reg.MarkRevoked(ctx, serial)
}
