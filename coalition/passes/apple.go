package passes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
)

// These are the operations of Apple's PassKit web service ("Wallet Passes
// web service"): a device registers a pass for updates and unregisters it,
// asks which of its passes changed since a tag, fetches the latest pass,
// and sends its logs. Every request about a pass carries the pass's
// authentication token.

// MemberPass issues the member's pass if need be and returns it, signed,
// with an authentication token of its own.
func (s *Service) MemberPass(ctx context.Context, member coalition.MemberID) ([]byte, error) {
	if s.cfg.Apple == nil {
		return nil, ErrOff
	}
	p, err := s.issue(ctx, member)
	if err != nil {
		return nil, err
	}
	tok, err := s.newToken(ctx, member)
	if err != nil {
		return nil, err
	}
	return s.build(ctx, p, tok)
}

// build signs the pass with the member's card as it is now.
func (s *Service) build(ctx context.Context, p pass, token string) ([]byte, error) {
	a := s.cfg.Apple
	c, err := s.cfg.Cards.Card(ctx, p.member)
	if err != nil {
		return nil, fmt.Errorf("card of %s: %w", p.member, err)
	}
	b := s.cfg.Branding
	pp := pkpass.Pass{
		SerialNumber: p.serial, AuthenticationToken: token, WebServiceURL: a.WebServiceURL,
		CardNumber: c.Number, BarcodeMessage: c.QRToken,
		Balance: c.Balance, Tier: c.Tier, Partners: c.Partners,
		OrganizationName: b.Name, Description: b.Name + " loyalty card", LogoText: b.Name,
		Foreground: b.Foreground, Background: b.Background, Label: b.Label,
		Silent: !p.notify,
	}
	if p.notify {
		pp.LastChange, pp.News = p.lastChange, p.news
	}
	for _, e := range c.Expiring {
		pp.Expiring = append(pp.Expiring, pkpass.Expiry{Points: e.Points, On: e.On.In(s.cfg.Zone)})
	}
	pp.Offers = s.shownOffers(c.Offers)
	return a.Builder.Build(pp)
}

// authorize finds the pass a web service request names by its pass type,
// serial number and token.
func (s *Service) authorize(ctx context.Context, passType, serial, token string) (pass, error) {
	if s.cfg.Apple == nil {
		return pass{}, ErrOff
	}
	if passType != s.cfg.Apple.PassTypeIdentifier || token == "" {
		return pass{}, ErrUnauthorized
	}
	var p pass
	err := s.cfg.Tx.Read(ctx, func(tx pgx.Tx) error {
		var err error
		p, err = readPass(ctx, tx, `p.serial_number = $1 AND EXISTS (
			SELECT 1 FROM wallet_pass_tokens AS t WHERE t.token_hash = $2 AND t.member_id = p.member_id)`, serial, tokenHash(token))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return pass{}, ErrUnauthorized
	}
	if err != nil {
		return pass{}, fmt.Errorf("authenticate pass %s: %w", serial, err)
	}
	return p, nil
}

// Register records that a device wants updates of a pass, pushed to
// pushToken; created is false when it had registered already (its push
// token is then updated).
func (s *Service) Register(ctx context.Context, device, passType, serial, token, pushToken string) (created bool, err error) {
	if _, err := s.authorize(ctx, passType, serial, token); err != nil {
		return false, err
	}
	if device == "" || len(device) > 128 || pushToken == "" || len(pushToken) > 200 {
		return false, coalition.Errorf(coalition.Invalid, "push_token", "a device library identifier and a push token are required")
	}
	now := s.now()
	err = s.cfg.Tx.Write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO wallet_registrations (device_library_id, pass_type_id, serial_number, push_token, registered_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (device_library_id, pass_type_id, serial_number) DO NOTHING`, device, passType, serial, pushToken, now)
		if err != nil {
			return err
		}
		if created = tag.RowsAffected() == 1; created {
			return nil
		}
		_, err = tx.Exec(ctx, `
			UPDATE wallet_registrations SET push_token = $4
			WHERE device_library_id = $1 AND pass_type_id = $2 AND serial_number = $3`, device, passType, serial, pushToken)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("register device for pass %s: %w", serial, err)
	}
	return created, nil
}

// Unregister stops updates of a pass to a device (the member removed the
// pass, or turned its updates off).
func (s *Service) Unregister(ctx context.Context, device, passType, serial, token string) error {
	if _, err := s.authorize(ctx, passType, serial, token); err != nil {
		return err
	}
	if _, err := s.cfg.Tx.Pool().Exec(ctx, `
		DELETE FROM wallet_registrations WHERE device_library_id = $1 AND pass_type_id = $2 AND serial_number = $3`,
		device, passType, serial); err != nil {
		return fmt.Errorf("unregister device from pass %s: %w", serial, err)
	}
	return nil
}

// Updated is the answer to "which of my passes changed".
type Updated struct {
	SerialNumbers []string `json:"serialNumbers"`
	LastUpdated   string   `json:"lastUpdated"`
}

// UpdatedSerials lists the device's passes of the type that changed after
// the tag since (all of them when since is empty or not a tag of ours); ok
// is false when none did. The new tag is the latest change among them.
func (s *Service) UpdatedSerials(ctx context.Context, device, passType, since string) (u Updated, ok bool, err error) {
	if s.cfg.Apple == nil {
		return u, false, ErrOff
	}
	var after *time.Time
	if n, err := strconv.ParseInt(since, 10, 64); err == nil && n >= 0 {
		t := time.Unix(n, 0).UTC()
		after = &t
	}
	rows, err := s.cfg.Tx.Pool().Query(ctx, `
		SELECT p.serial_number, p.updated_at
		FROM wallet_registrations AS r JOIN wallet_passes AS p ON p.serial_number = r.serial_number
		WHERE r.device_library_id = $1 AND r.pass_type_id = $2 AND ($3::TIMESTAMPTZ IS NULL OR p.updated_at > $3)
		ORDER BY p.serial_number`, device, passType, after)
	if err != nil {
		return u, false, fmt.Errorf("updated passes of a device: %w", err)
	}
	var serial string
	var at, last time.Time
	_, err = pgx.ForEachRow(rows, []any{&serial, &at}, func() error {
		u.SerialNumbers = append(u.SerialNumbers, serial)
		if at.After(last) {
			last = at
		}
		return nil
	})
	if err != nil {
		return u, false, fmt.Errorf("updated passes of a device: %w", err)
	}
	if len(u.SerialNumbers) == 0 {
		return u, false, nil
	}
	u.LastUpdated = strconv.FormatInt(last.Unix(), 10)
	return u, true, nil
}

// Latest is the pass a device fetches.
type Latest struct {
	Archive      []byte
	LastModified time.Time // whole seconds, UTC
	NotModified  bool      // nothing changed since If-Modified-Since: no Archive
}

// LatestPass returns the pass as it is now, signed with the token the
// device presented, unless it has not changed since ifModifiedSince (zero:
// no condition).
func (s *Service) LatestPass(ctx context.Context, passType, serial, token string, ifModifiedSince time.Time) (Latest, error) {
	p, err := s.authorize(ctx, passType, serial, token)
	if err != nil {
		return Latest{}, err
	}
	l := Latest{LastModified: p.updatedAt}
	if !ifModifiedSince.IsZero() && !p.updatedAt.After(ifModifiedSince) {
		l.NotModified = true
		return l, nil
	}
	if l.Archive, err = s.build(ctx, p, token); err != nil {
		return Latest{}, err
	}
	return l, nil
}

// Log records what a device reports about the web service (Wallet sends
// its errors here), without the devices' own identifiers, at debug level:
// anyone may post to the log endpoint, and it must not be a way to fill
// the server's logs.
func (s *Service) Log(ctx context.Context, lines []string) {
	lines = slices.Clone(lines)
	if len(lines) > 20 {
		lines = lines[:20]
	}
	for i, l := range lines {
		if len(l) > 500 {
			lines[i] = l[:500]
		}
	}
	s.cfg.Log.DebugContext(ctx, "wallet device log", "lines", lines)
}
