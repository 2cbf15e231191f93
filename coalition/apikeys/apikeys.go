// Package apikeys issues and checks the API keys of REST clients. A key is
// random, shown once, and stored only as a keyed hash whose key stays in
// Vault; checking a key hashes it (one call to Vault) and the answer is
// cached for a short time, so a busy client does not call Vault on every
// request, and a revoked key is refused within that time.
package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
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
	tx    *txn.Runner
	hash  Hasher
	clock func() time.Time
	ttl   time.Duration
	max   int

	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	key   Key
	valid bool
	until time.Time
}

// Config wires a store.
type Config struct {
	Tx *txn.Runner
	// Hasher hashes keys for Issue, Rotate and Check; List and Revoke do
	// without.
	Hasher Hasher
	Clock  func() time.Time // time.Now if nil
	// Check keeps its answers for CacheTTL, for at most CacheSize keys (at
	// least one); a zero CacheTTL keeps none, and every check hashes.
	CacheTTL  time.Duration
	CacheSize int
}

// New returns a store.
func New(cfg Config) *Store {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Store{tx: cfg.Tx, hash: cfg.Hasher, clock: cfg.Clock, ttl: cfg.CacheTTL, max: cfg.CacheSize, cache: map[[32]byte]cached{}}
}

// Issue creates a key for a partner (role "partner") or a staff role, and
// returns it with the one copy of the secret.
func (s *Store) Issue(ctx context.Context, partner *coalition.PartnerID, role, name string) (Key, string, error) {
	if (role == "partner") != (partner != nil) {
		return Key{}, "", coalition.Errorf(coalition.Invalid, "role", "a partner key names its partner; a staff key has role finance or operator")
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
	c, ok := s.cache[id]
	s.mu.Unlock()
	if !ok || now.After(c.until) {
		h, err := s.hash.HMAC(ctx, TransitKey, []byte(secret))
		if err != nil {
			return Key{}, fmt.Errorf("check api key: %w", err)
		}
		k, err := s.byHash(ctx, h)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			c = cached{valid: false, until: now.Add(s.ttl)}
		case err != nil:
			return Key{}, fmt.Errorf("check api key: %w", err)
		default:
			c = cached{key: k, valid: true, until: now.Add(s.ttl)}
		}
		s.remember(id, c)
	}
	if !c.valid || c.key.RevokedAt != nil || (c.key.ExpiresAt != nil && !now.Before(*c.key.ExpiresAt)) {
		return Key{}, ErrInvalid
	}
	return c.key, nil
}

func (s *Store) remember(id [32]byte, c cached) {
	if s.ttl <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= s.max {
		for k := range s.cache { // drop an arbitrary entry: the cache is bounded
			delete(s.cache, k)
			break
		}
	}
	s.cache[id] = c
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

// Revoke ends a key now (within the check cache's lifetime everywhere).
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

func (s *Store) end(ctx context.Context, id uuid.UUID, sql string, at time.Time) error {
	var n int64
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, id, at)
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
	clear(s.cache) // the next check of every key reads the new state
	s.mu.Unlock()
	return nil
}
