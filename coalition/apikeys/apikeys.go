// Package apikeys issues and checks the API keys of REST clients. A key is
// random, shown once, and stored only as a keyed hash whose key stays in
// Vault. Checking a key hashes it (one call to Vault, remembered for a
// while: a key's hash never changes) and reads its row (remembered for a
// couple of seconds), so a busy client neither calls Vault nor reads the
// database on every request, and a key revoked on any replica is refused
// on every replica within those seconds.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

// Prefix starts every key, so that a leaked key is recognisable (and
// secret scanners can find it).
const Prefix = "ck_"

// Hasher computes the keyed hash of a key (Vault transit HMAC).
type Hasher interface {
	HMAC(ctx context.Context, key string, data []byte) ([]byte, error)
}

// TransitKey is the transit key API keys are hashed with.
const TransitKey = "api-key"

// Key is an API key as stored (without the key itself).
type Key struct {
	ID        uuid.UUID
	PartnerID *coalition.PartnerID
	Role      string
	Name      string
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// Store keeps API keys.
type Store struct {
	tx      *txn.Runner
	hash    Hasher
	clock   func() time.Time
	ttl     time.Duration // of a remembered hash
	recheck time.Duration // of a remembered row
	max     int

	mu     sync.Mutex
	hashes map[[32]byte]hashed // SHA-256 of a secret → its keyed hash
	rows   map[string]row      // keyed hash → the key's row
}

type hashed struct {
	h     []byte
	until time.Time
}

type row struct {
	key   Key
	found bool
	until time.Time
}

// Recheck is how long a key's row is trusted before it is read again: the
// longest a revocation made on one replica takes to reach the others.
const Recheck = 2 * time.Second

// Config wires a store.
type Config struct {
	Tx *txn.Runner
	// Hasher hashes keys for Issue, Rotate and Check; List and Revoke do
	// without.
	Hasher Hasher
	Clock  func() time.Time // time.Now if nil
	// Check keeps a key's hash for CacheTTL, and its row for Recheck (or
	// CacheTTL if shorter), for at most CacheSize keys (at least one); a
	// zero CacheTTL keeps nothing, and every check hashes and reads.
	CacheTTL  time.Duration
	CacheSize int
}

// New returns a store.
func New(cfg Config) *Store {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Store{tx: cfg.Tx, hash: cfg.Hasher, clock: cfg.Clock, ttl: cfg.CacheTTL, recheck: min(Recheck, cfg.CacheTTL),
		max: max(cfg.CacheSize, 1), hashes: map[[32]byte]hashed{}, rows: map[string]row{}}
}

// Roles a key may have: a partner's own API key; the coalition's staff
// (finance, operator); and a partner's staff, who sign in to the partner
// portal (PartnerStaffRoles).
const (
	RolePartner          = "partner"
	RoleFinance          = "finance"
	RoleOperator         = "operator"
	RolePartnerAdmin     = "partner-admin"
	RolePartnerFinance   = "partner-finance"
	RolePartnerMarketing = "partner-marketing"
)

// PartnerStaffRoles are the roles of a partner's own staff.
var PartnerStaffRoles = []string{RolePartnerAdmin, RolePartnerFinance, RolePartnerMarketing}

// IsPartnerStaff says whether role is one of a partner's staff.
func IsPartnerStaff(role string) bool {
	return slices.Contains(PartnerStaffRoles, role)
}

// Issue creates a key for a partner (role "partner"), a partner's staff
// (PartnerStaffRoles, with the partner) or the coalition's staff (finance,
// operator, without one), and returns it with the one copy of the secret.
func (s *Store) Issue(ctx context.Context, partner *coalition.PartnerID, role, name string) (Key, string, error) {
	switch {
	case role == RoleFinance || role == RoleOperator:
		if partner != nil {
			return Key{}, "", coalition.Errorf(coalition.Invalid, "role", "a finance or operator key belongs to no partner")
		}
	case role == RolePartner || IsPartnerStaff(role):
		if partner == nil {
			return Key{}, "", coalition.Errorf(coalition.Invalid, "partner", "a %s key names its partner", role)
		}
	default:
		return Key{}, "", coalition.Errorf(coalition.Invalid, "role", "no role %q", role)
	}
	if name == "" || len(name) > 100 {
		return Key{}, "", coalition.Errorf(coalition.Invalid, "name", "a key's name is 1 to 100 characters")
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return Key{}, "", err
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(b)
	h, err := s.hash.HMAC(ctx, TransitKey, []byte(secret))
	if err != nil {
		return Key{}, "", fmt.Errorf("hash api key: %w", err)
	}
	k := Key{ID: uuid.New(), PartnerID: partner, Role: role, Name: name, CreatedAt: s.clock().UTC().Truncate(time.Microsecond)}
	err = s.tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO api_keys (id, partner_id, role, name, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.ID, k.PartnerID, k.Role, k.Name, h, k.CreatedAt)
		return err
	})
	if err != nil {
		return Key{}, "", fmt.Errorf("store api key: %w", err)
	}
	return k, secret, nil
}

// ErrInvalid is the answer for a key that is unknown, revoked or expired.
var ErrInvalid = errors.New("invalid API key")

// Check returns the key a secret belongs to if it is valid now.
func (s *Store) Check(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, Prefix) || len(secret) > 100 {
		return Key{}, ErrInvalid
	}
	now := s.clock()
	id := sha256.Sum256([]byte(secret))
	s.mu.Lock()
	hc, ok := s.hashes[id]
	s.mu.Unlock()
	if !ok || !now.Before(hc.until) {
		h, err := s.hash.HMAC(ctx, TransitKey, []byte(secret))
		if err != nil {
			return Key{}, fmt.Errorf("check api key: %w", err)
		}
		hc = hashed{h: h, until: now.Add(s.ttl)}
		remember(s, s.hashes, id, hc)
	}
	s.mu.Lock()
	r, ok := s.rows[string(hc.h)]
	s.mu.Unlock()
	if !ok || !now.Before(r.until) {
		k, err := s.byHash(ctx, hc.h)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			r = row{until: now.Add(s.recheck)}
		case err != nil:
			return Key{}, fmt.Errorf("check api key: %w", err)
		default:
			r = row{key: k, found: true, until: now.Add(s.recheck)}
		}
		remember(s, s.rows, string(hc.h), r)
	}
	if !r.found || r.key.RevokedAt != nil || (r.key.ExpiresAt != nil && !now.Before(*r.key.ExpiresAt)) {
		return Key{}, ErrInvalid
	}
	return r.key, nil
}

// remember keeps v under k in one of the store's caches, which hold at
// most max entries (an arbitrary one makes room), unless the store keeps
// nothing.
func remember[K comparable, V any](s *Store, m map[K]V, k K, v V) {
	if s.ttl <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for old := range m {
		if len(m) < s.max {
			break
		}
		delete(m, old)
	}
	m[k] = v
}

const selectKey = `SELECT id, partner_id, role, name, created_at, expires_at, revoked_at FROM api_keys`

func scanKey(row pgx.Row) (Key, error) {
	var k Key
	err := row.Scan(&k.ID, &k.PartnerID, &k.Role, &k.Name, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt)
	return k, err
}

func (s *Store) byHash(ctx context.Context, h []byte) (Key, error) {
	return scanKey(s.tx.Pool().QueryRow(ctx, selectKey+` WHERE hash = $1`, h))
}

// List returns every key, newest first.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	rows, err := s.tx.Pool().Query(ctx, selectKey+` ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) { return scanKey(r) })
}

// ListOf returns a partner's keys, newest first: its API keys and its
// staff's credentials, and no other partner's.
func (s *Store) ListOf(ctx context.Context, partner coalition.PartnerID) ([]Key, error) {
	rows, err := s.tx.Pool().Query(ctx, selectKey+` WHERE partner_id = $1 ORDER BY created_at DESC, id`, partner)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) { return scanKey(r) })
}

// RevokeOf ends a partner's key of one of roles now, as Revoke does; a key
// of another partner, or of another role, is not found.
func (s *Store) RevokeOf(ctx context.Context, partner coalition.PartnerID, roles []string, id uuid.UUID) error {
	return s.end(ctx, id, `UPDATE api_keys SET revoked_at = $2
		WHERE id = $1 AND revoked_at IS NULL AND partner_id = $3 AND role = ANY ($4)`, s.clock().UTC(), partner, roles)
}

// RotateOf rotates a partner's key of one of roles, as Rotate does; a key
// of another partner, or of another role, is not found.
func (s *Store) RotateOf(ctx context.Context, partner coalition.PartnerID, roles []string, id uuid.UUID, overlap time.Duration) (Key, string, error) {
	old, err := scanKey(s.tx.Pool().QueryRow(ctx, selectKey+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (old.PartnerID == nil || *old.PartnerID != partner || !slices.Contains(roles, old.Role))) {
		return Key{}, "", coalition.Errorf(coalition.NotFound, "id", "no API key %s", id)
	}
	if err != nil {
		return Key{}, "", err
	}
	return s.Rotate(ctx, id, overlap)
}

// Revoke ends a key now: on this replica at once, on the others within
// Recheck.
func (s *Store) Revoke(ctx context.Context, id uuid.UUID) error {
	return s.end(ctx, id, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, s.clock().UTC())
}

// Rotate issues a new key like the old one, and lets the old one live for
// overlap more, so clients can switch without downtime.
func (s *Store) Rotate(ctx context.Context, id uuid.UUID, overlap time.Duration) (Key, string, error) {
	old, err := scanKey(s.tx.Pool().QueryRow(ctx, selectKey+` WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, "", coalition.Errorf(coalition.NotFound, "id", "no API key %s", id)
	}
	if err != nil {
		return Key{}, "", err
	}
	k, secret, err := s.Issue(ctx, old.PartnerID, old.Role, old.Name)
	if err != nil {
		return Key{}, "", err
	}
	until := s.clock().UTC().Add(overlap)
	if err := s.end(ctx, id, `UPDATE api_keys SET expires_at = $2 WHERE id = $1 AND (expires_at IS NULL OR expires_at > $2)`, until); err != nil {
		return Key{}, "", err
	}
	return k, secret, nil
}

func (s *Store) end(ctx context.Context, id uuid.UUID, sql string, at time.Time, more ...any) error {
	var n int64
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, append([]any{id, at}, more...)...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return coalition.Errorf(coalition.NotFound, "id", "no active API key %s", id)
	}
	s.mu.Lock()
	clear(s.rows) // on this replica, the next check of every key reads its row
	s.mu.Unlock()
	return nil
}
