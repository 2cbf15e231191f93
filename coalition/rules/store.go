package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

// Store keeps the versions of the rule set. Versions are immutable once
// stored, so a parsed version may be cached by any replica for ever; which
// version is in force is read in the caller's transaction every time.
type Store struct {
	tx    *txn.Runner
	clock func() time.Time

	mu     sync.Mutex
	parsed map[int64]RuleSet
	// versions are parsed's keys, for the reads that skip their bodies.
	versions []int64
}

// StoreConfig wires a store.
type StoreConfig struct {
	Tx    *txn.Runner
	Clock func() time.Time // time.Now if nil
}

func NewStore(cfg StoreConfig) *Store {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Store{tx: cfg.Tx, clock: cfg.Clock, parsed: map[int64]RuleSet{}}
}

// Queryer is what InForce reads through: a transaction or a pool.
type Queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inForceSQL reads the version in force at $1, and its body only if the
// version is not among $2, those already parsed: every batch of postings
// asks, and a rule set's body is a couple of kilobytes the caller would
// only throw away.
const inForceSQL = `
	SELECT version, CASE WHEN version = ANY($2::BIGINT[]) THEN NULL ELSE body END FROM rule_sets
	WHERE effective_from <= $1
	ORDER BY effective_from DESC, version DESC
	LIMIT 1`

// InForce returns the version in force at t (the latest to take effect at
// or before t), or the empty version 0 if none is.
func (s *Store) InForce(ctx context.Context, q Queryer, t time.Time) (RuleSet, error) {
	return s.inForce(q.QueryRow(ctx, inForceSQL, t, s.known()))
}

// QueueInForce queues InForce's read on b, so that it shares a round trip
// with other reads; once b has been sent, the returned function gives the
// version in force.
func (s *Store) QueueInForce(b *pgx.Batch, t time.Time) func() (RuleSet, error) {
	rs, err := RuleSet{}, errors.New("rules in force: the batch was not sent")
	b.Queue(inForceSQL, t, s.known()).QueryRow(func(row pgx.Row) error {
		rs, err = s.inForce(row)
		return nil
	})
	return func() (RuleSet, error) { return rs, err }
}

func (s *Store) inForce(row pgx.Row) (RuleSet, error) {
	var version int64
	var body *string
	err := row.Scan(&version, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return RuleSet{}, nil
	}
	if err != nil {
		return RuleSet{}, fmt.Errorf("rules in force: %w", err)
	}
	if body == nil { // a version known to the store, which keeps it for ever
		rs, ok := s.cached(version)
		if !ok {
			return RuleSet{}, fmt.Errorf("rules in force: version %d read without its body, yet not parsed before", version)
		}
		return rs, nil
	}
	return s.parse(version, *body)
}

// known is the versions parsed so far, whose bodies need not be read.
func (s *Store) known() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions
}

// cached is the version as parsed before, if it was.
func (s *Store) cached(version int64) (RuleSet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.parsed[version]
	return rs, ok
}

func (s *Store) parse(version int64, body string) (RuleSet, error) {
	if rs, ok := s.cached(version); ok {
		return rs, nil
	}
	rs, err := Decode([]byte(body))
	if err != nil {
		return RuleSet{}, fmt.Errorf("rule set %d as stored: %w", version, err)
	}
	rs.Version = version
	s.mu.Lock()
	if _, ok := s.parsed[version]; !ok {
		s.parsed[version] = rs
		// A new slice each time: a caller may still hold the old one.
		s.versions = append(slices.Clip(s.versions), version)
	}
	s.mu.Unlock()
	return rs, nil
}

// Put stores a new version. It takes effect at rs.EffectiveFrom (now if
// zero), which may not be in the past: accruals already made must keep the
// version they name.
//
// Storing the same rules as the latest version again (a retried request)
// returns that version rather than a copy of it.
func (s *Store) Put(ctx context.Context, rs RuleSet) (RuleSet, error) {
	now := s.clock().UTC().Truncate(time.Microsecond)
	asked := rs.EffectiveFrom
	if rs.EffectiveFrom.IsZero() {
		rs.EffectiveFrom = now
	}
	rs.EffectiveFrom = rs.EffectiveFrom.UTC().Truncate(time.Microsecond)
	if rs.EffectiveFrom.Before(now) {
		return RuleSet{}, coalition.Errorf(coalition.Invalid, "effective_from",
			"%s is in the past; a rule set takes effect now or later", rs.EffectiveFrom.Format(time.RFC3339))
	}
	var same *RuleSet
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		same = nil
		if err := validate(ctx, tx, rs); err != nil {
			return err
		}
		var latest int64
		var body string
		err := tx.QueryRow(ctx, `SELECT version, body FROM rule_sets ORDER BY version DESC LIMIT 1`).Scan(&latest, &body)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("latest version: %w", err)
		}
		if err == nil {
			prev, err := s.parse(latest, body)
			if err != nil {
				return err
			}
			a, b := prev, rs
			a.Version, b.Version = 0, 0
			if asked.IsZero() {
				a.EffectiveFrom, b.EffectiveFrom = time.Time{}, time.Time{}
			}
			if string(Encode(a)) == string(Encode(b)) {
				same = &prev
				return nil
			}
		}
		// Rule changes are rare and made by the operator: max + 1 in a
		// serializable transaction is a safe version number.
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) + 1 FROM rule_sets`).Scan(&rs.Version); err != nil {
			return fmt.Errorf("next version: %w", err)
		}
		stored := rs
		stored.Version = 0
		_, err = tx.Exec(ctx, `INSERT INTO rule_sets (version, effective_from, body, created_at) VALUES ($1, $2, $3, $4)`,
			rs.Version, rs.EffectiveFrom, string(Encode(stored)), now)
		return err
	})
	if err != nil {
		return RuleSet{}, fmt.Errorf("store rule set: %w", err)
	}
	if same != nil {
		return *same, nil
	}
	return rs, nil
}

func validate(ctx context.Context, tx pgx.Tx, rs RuleSet) error {
	rows, err := tx.Query(ctx, `SELECT code FROM partners WHERE kind <> 'operator' ORDER BY code`)
	if err != nil {
		return fmt.Errorf("partners: %w", err)
	}
	codes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("partners: %w", err)
	}
	return rs.Validate(codes)
}

// Check validates a rule set as Put would, without storing it, and returns
// the version in force now.
func (s *Store) Check(ctx context.Context, rs RuleSet) (int64, error) {
	now := s.clock().UTC()
	if !rs.EffectiveFrom.IsZero() && rs.EffectiveFrom.Before(now.Truncate(time.Microsecond)) {
		return 0, coalition.Errorf(coalition.Invalid, "effective_from",
			"%s is in the past; a rule set takes effect now or later", rs.EffectiveFrom.Format(time.RFC3339))
	}
	var inForce int64
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		if err := validate(ctx, tx, rs); err != nil {
			return err
		}
		cur, err := s.InForce(ctx, tx, now)
		inForce = cur.Version
		return err
	})
	return inForce, err
}

// Get returns one version.
func (s *Store) Get(ctx context.Context, version int64) (RuleSet, error) {
	var body string
	err := s.tx.Pool().QueryRow(ctx, `SELECT body FROM rule_sets WHERE version = $1`, version).Scan(&body)
	if errors.Is(err, pgx.ErrNoRows) {
		return RuleSet{}, coalition.Errorf(coalition.NotFound, "version", "no rule set version %d", version)
	}
	if err != nil {
		return RuleSet{}, fmt.Errorf("rule set %d: %w", version, err)
	}
	return s.parse(version, body)
}

// Current is the version in force now.
func (s *Store) Current(ctx context.Context) (RuleSet, error) {
	return s.InForce(ctx, s.tx.Pool(), s.clock())
}

// Summary is one stored version without its body.
type Summary struct {
	Version       int64     `json:"version"`
	EffectiveFrom time.Time `json:"effective_from"`
	CreatedAt     time.Time `json:"created_at"`
	Note          string    `json:"note,omitempty"`
}

// List returns every version, newest first.
func (s *Store) List(ctx context.Context) ([]Summary, error) {
	rows, err := s.tx.Pool().Query(ctx, `SELECT version, body, effective_from, created_at FROM rule_sets ORDER BY version DESC`)
	if err != nil {
		return nil, fmt.Errorf("list rule sets: %w", err)
	}
	var out []Summary
	for rows.Next() {
		var sm Summary
		var body string
		if err := rows.Scan(&sm.Version, &body, &sm.EffectiveFrom, &sm.CreatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list rule sets: %w", err)
		}
		rs, err := s.parse(sm.Version, body)
		if err != nil {
			rows.Close()
			return nil, err
		}
		sm.Note = rs.Note
		sm.EffectiveFrom, sm.CreatedAt = sm.EffectiveFrom.UTC(), sm.CreatedAt.UTC()
		out = append(out, sm)
	}
	return out, rows.Err()
}
