package partners

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Certificate is a client certificate issued to a partner.
type Certificate struct {
	Serial    string
	PartnerID coalition.PartnerID
	IssuedAt  time.Time
	NotAfter  time.Time
	RevokedAt *time.Time
}

// RecordCertificate notes a certificate issued to a partner.
func (r *Register) RecordCertificate(ctx context.Context, c Certificate) error {
	return r.tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO partner_certificates (serial, partner_id, issued_at, not_after)
			VALUES ($1, $2, $3, $4)`, c.Serial, c.PartnerID, c.IssuedAt, c.NotAfter)
		return err
	})
}

// Certificates lists a partner's certificates, newest first.
func (r *Register) Certificates(ctx context.Context, partner coalition.PartnerID) ([]Certificate, error) {
	rows, err := r.tx.Pool().Query(ctx, `
		SELECT serial, partner_id, issued_at, not_after, revoked_at
		FROM partner_certificates WHERE partner_id = $1 ORDER BY not_after DESC, serial`, partner)
	if err != nil {
		return nil, fmt.Errorf("certificates of %s: %w", partner, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Certificate, error) {
		var c Certificate
		err := row.Scan(&c.Serial, &c.PartnerID, &c.IssuedAt, &c.NotAfter, &c.RevokedAt)
		return c, err
	})
}

// MarkRevoked notes that a certificate was revoked.
func (r *Register) MarkRevoked(ctx context.Context, serial string) error {
	var n int64
	err := r.tx.Run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE partner_certificates SET revoked_at = $2 WHERE serial = $1 AND revoked_at IS NULL`,
			serial, r.clock().UTC())
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke %s: %w", serial, err)
	}
	if n == 0 {
		return coalition.Errorf(coalition.NotFound, "serial", "no unrevoked certificate %s", serial)
	}
	return nil
}

// CertificateOf is a partner's certificate by serial. A certificate of
// another partner is not found, as one that does not exist: a partner's
// staff learn nothing of other partners' serials.
func (r *Register) CertificateOf(ctx context.Context, partner coalition.PartnerID, serial string) (Certificate, error) {
	var c Certificate
	err := r.tx.Pool().QueryRow(ctx, `
		SELECT serial, partner_id, issued_at, not_after, revoked_at
		FROM partner_certificates WHERE serial = $1 AND partner_id = $2`, serial, partner).
		Scan(&c.Serial, &c.PartnerID, &c.IssuedAt, &c.NotAfter, &c.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, coalition.Errorf(coalition.NotFound, "serial", "no certificate %s", serial)
	}
	if err != nil {
		return c, fmt.Errorf("certificate %s: %w", serial, err)
	}
	return c, nil
}
