// Package passes keeps a member's card in the phone's wallet: it issues the
// member's pass (Apple Wallet and Google Wallet share it), answers Apple's
// PassKit web service (devices register, ask what changed and fetch the
// latest pass), and delivers the changes written to the pass outbox: the
// pass is marked updated, every device that holds it is woken through
// APNs, and the Google Wallet object is patched and given the change's
// message. The card's numbers come from the ledger through Cards; this
// package writes only its own tables.
package passes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
)

// Card is a member's card as the passes show it: the same numbers as the
// member's page.
type Card struct {
	Number string // 16 digits, printed under the barcode
	// QRToken is what the barcode holds, as on the member's page: what
	// the till scans from the phone.
	QRToken  string
	Balance  coalition.Points // available points
	Tier     string           // the tier's name; empty without tiers
	Partners []string         // where the points earn and spend
	Expiring []Expiry
	// Offers are the member's personal offers in force now, as the
	// member's page lists them; the pass shows the MaxOffers ending
	// soonest.
	Offers []Offer
}

// Expiry is points that lapse on a date.
type Expiry struct {
	Points coalition.Points
	On     time.Time
}

// Cards reads a member's card (the server reads it from the ledger).
type Cards interface {
	Card(ctx context.Context, member coalition.MemberID) (Card, error)
}

// Pusher wakes a device to fetch its updated pass (*apns.Client).
type Pusher interface {
	NotifyPassUpdated(ctx context.Context, pushToken string) error
}

// GoogleAPI is what the worker and the save link need of Google's
// walletobjects API (*googlewallet.Client).
type GoogleAPI interface {
	UpsertClass(ctx context.Context, class googlewallet.LoyaltyClass) (googlewallet.LoyaltyClass, error)
	UpsertObject(ctx context.Context, obj googlewallet.LoyaltyObject) (googlewallet.LoyaltyObject, error)
	PatchObject(ctx context.Context, obj googlewallet.LoyaltyObject) (googlewallet.LoyaltyObject, error)
	AddMessage(ctx context.Context, objectID string, msg googlewallet.Message) (googlewallet.LoyaltyObject, error)
}

// Branding is how the coalition's passes look.
type Branding struct {
	Name       string // organisation and programme name
	Foreground pkpass.RGB
	Background pkpass.RGB
	Label      pkpass.RGB
}

// Apple is the Apple Wallet side.
type Apple struct {
	Builder            *pkpass.Builder
	PassTypeIdentifier string
	// WebServiceURL is the https base of the PassKit web service (the
	// server's public URL + "/wallet/apple"); empty: passes carry none and
	// are never updated (dev mode over plain HTTP).
	WebServiceURL string
	// Push wakes devices; nil: no APNs key, pushes are skipped and logged.
	Push Pusher
}

// Google is the Google Wallet side.
type Google struct {
	Program googlewallet.Program
	Account googlewallet.ServiceAccount
	// Origins are the sites allowed to show the save button.
	Origins []string
	// API keeps objects current; nil: no API calls (dev mode, whose
	// service account Google does not know), and the save link carries
	// the whole object.
	API GoogleAPI
}

// Config wires a Service.
type Config struct {
	Tx    *txn.Runner
	Cards Cards
	// Apple and Google are the wallets offered; nil: that wallet is off.
	Apple    *Apple
	Google   *Google
	Branding Branding
	// Zone is the coalition's time zone: the dates messages name (UTC if
	// nil).
	Zone  *time.Location
	Clock func() time.Time // time.Now if nil
	Log   *slog.Logger
	// Lease is how long a claimed outbox row is the claimer's before
	// another worker may take it (default 5 minutes); BackoffBase and
	// BackoffCap bound the pause after a failed delivery (defaults 30 s
	// and 1 hour), doubling with each attempt.
	Lease, BackoffBase, BackoffCap time.Duration
	// Rules, if set, are the loyalty rules: the daily job announces new
	// promotions on the passes of the members they are for.
	Rules RuleSource
	// BeforeMark, if set, runs after an event was sent and before it is
	// marked delivered; an error stops the worker there, as a crash would.
	// For tests.
	BeforeMark func(ctx context.Context, event Event) error
}

// Service issues passes, serves the PassKit web service and delivers the
// outbox. Safe for concurrent use; its state is in the database, so any
// number of replicas may run it.
type Service struct {
	cfg Config
	// class remembers that the Google class exists.
	class classOnce
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Tx == nil || cfg.Cards == nil {
		return nil, errors.New("passes: a transaction runner and a card source are required")
	}
	if cfg.Apple != nil && (cfg.Apple.Builder == nil || cfg.Apple.PassTypeIdentifier == "") {
		return nil, errors.New("passes: Apple Wallet needs a pass builder and its pass type identifier")
	}
	if cfg.Branding.Name == "" {
		return nil, errors.New("passes: the coalition's name is required")
	}
	if cfg.Zone == nil {
		cfg.Zone = time.UTC
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 30 * time.Second
	}
	if cfg.BackoffCap <= 0 {
		cfg.BackoffCap = time.Hour
	}
	return &Service{cfg: cfg}, nil
}

// AppleOn and GoogleOn say which wallets are offered.
func (s *Service) AppleOn() bool  { return s.cfg.Apple != nil }
func (s *Service) GoogleOn() bool { return s.cfg.Google != nil }

// ErrUnauthorized refuses a web service request whose pass and
// authentication token do not belong together (HTTP 401).
var ErrUnauthorized = errors.New("passes: unknown pass or wrong authentication token")

// ErrOff answers for a wallet that is not configured.
var ErrOff = errors.New("passes: this wallet is not configured")

func (s *Service) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Microsecond) }

// pass is a member's pass row.
type pass struct {
	member     coalition.MemberID
	serial     string
	updatedAt  time.Time
	lastChange string
	news       string
	notify     bool
}

// issue makes the member's pass if there is none yet, and returns it
// either way; the member must exist.
func (s *Service) issue(ctx context.Context, member coalition.MemberID) (pass, error) {
	var p pass
	serial := uuid.NewString()
	// Whole seconds, as Last-Modified carries them.
	now := s.now()
	err := s.cfg.Tx.Write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO wallet_passes (member_id, serial_number, created_at, updated_at)
			SELECT id, $2::TEXT, $3::TIMESTAMPTZ, $4::TIMESTAMPTZ FROM members WHERE id = $1
			ON CONFLICT (member_id) DO NOTHING`, member, serial, now, now.Truncate(time.Second))
		if err != nil {
			return err
		}
		p, err = readPass(ctx, tx, `p.member_id = $1`, member)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return p, coalition.Errorf(coalition.NotFound, "member", "no such member")
	}
	if err != nil {
		return p, fmt.Errorf("issue pass of %s: %w", member, err)
	}
	return p, nil
}

func readPass(ctx context.Context, q pgx.Tx, where string, args ...any) (pass, error) {
	var p pass
	err := q.QueryRow(ctx, `
		SELECT p.member_id, p.serial_number, p.updated_at, p.last_change, p.news, COALESCE(w.notifications, true)
		FROM wallet_passes AS p LEFT JOIN wallet_preferences AS w ON w.member_id = p.member_id
		WHERE `+where, args...).Scan(&p.member, &p.serial, &p.updatedAt, &p.lastChange, &p.news, &p.notify)
	p.updatedAt = p.updatedAt.UTC()
	return p, err
}

// MaxTokens is how many authentication tokens a member's pass keeps: one
// per download, the newest.
const MaxTokens = 10

// newToken mints an authentication token for the member's pass and keeps
// its hash.
func (s *Service) newToken(ctx context.Context, member coalition.MemberID) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	// A member's newest tokens only: each download mints one, and the
	// devices that hold an older pass fetch the latest with it; beyond
	// MaxTokens the oldest stop working.
	err := s.cfg.Tx.Write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO wallet_pass_tokens (token_hash, member_id, created_at) VALUES ($1, $2, $3)`,
			tokenHash(tok), member, s.now()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			DELETE FROM wallet_pass_tokens WHERE member_id = $1 AND token_hash NOT IN (
			    SELECT token_hash FROM wallet_pass_tokens WHERE member_id = $1
			    ORDER BY created_at DESC, token_hash LIMIT $2)`, member, MaxTokens)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("pass token: %w", err)
	}
	return tok, nil
}

func tokenHash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// Notifications says whether the member hears of changes on the pass.
func (s *Service) Notifications(ctx context.Context, member coalition.MemberID) (bool, error) {
	on := true
	err := s.cfg.Tx.Pool().QueryRow(ctx, `SELECT notifications FROM wallet_preferences WHERE member_id = $1`, member).Scan(&on)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("pass notifications of %s: %w", member, err)
	}
	return on, nil
}

// SetNotifications turns the member's pass messages on or off. The pass
// itself stays current either way.
func (s *Service) SetNotifications(ctx context.Context, member coalition.MemberID, on bool) error {
	tag, err := s.cfg.Tx.Pool().Exec(ctx, `
		INSERT INTO wallet_preferences (member_id, notifications, updated_at)
		SELECT id, $2::BOOL, $3::TIMESTAMPTZ FROM members WHERE id = $1
		ON CONFLICT (member_id) DO UPDATE SET notifications = excluded.notifications, updated_at = excluded.updated_at`,
		member, on, s.now())
	if err != nil {
		return fmt.Errorf("set pass notifications of %s: %w", member, err)
	}
	if tag.RowsAffected() == 0 {
		return coalition.Errorf(coalition.NotFound, "member", "no such member")
	}
	return nil
}
