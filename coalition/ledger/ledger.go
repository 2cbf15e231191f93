// Package ledger is the only writer of points. Every operation is one
// serializable transaction that reads the open settlement window, posts a
// balanced set of entries, keeps each member's lots (who issued which points,
// when they become spendable and expire) and records the first result of its
// idempotency key.
package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// Config wires a Ledger.
type Config struct {
	Tx    *txn.Runner
	Clock func() time.Time // time.Now if nil
	// Rules holds the versions of the loyalty rules; nil: partners' base
	// rates only.
	Rules  *rules.Store
	Phones phone.Hasher
	// DefaultHoldTTL applies when Authorize is given none (15 minutes if zero).
	DefaultHoldTTL time.Duration
	// Lanes is the number of group-commit lanes accruals, redemptions,
	// holds, captures, voids and refunds queue into
	// (DefaultLanes() if zero); negative: every accrual in a transaction of
	// its own. BatchCap bounds a batch (DefaultBatchCap if zero).
	Lanes, BatchCap int
	// PurseHead is how many of a member's open lots, soonest to expire,
	// a batch reads for the member's spends (DefaultPurseHead if zero):
	// a spend they do not cover runs in a transaction of its own, on all
	// of them.
	PurseHead int
	// Tracer traces each batch of the lanes, linked to its requests' spans
	// (no tracing if nil).
	Tracer trace.Tracer
	// PassEvents makes every posting write an event for its member's
	// wallet pass, if the member has one, to the passes' outbox in the
	// posting's own transaction (package passes delivers them). A
	// coalition that offers no wallet passes leaves it off and pays
	// nothing for it (EnablePassEvents turns it on once the wallets are
	// known).
	PassEvents bool
}

// Ledger posts points. Safe for concurrent use; holds no state of its own
// beyond its configuration, so any number of replicas can share a database.
type Ledger struct {
	tx    *txn.Runner
	clock func() time.Time
	rules *rules.Store

	mu          sync.Mutex
	funderCache map[string]funder
	phones      phone.Hasher
	holdTTL     time.Duration
	purseHead   int
	// capped remembers the partners last seen with a liability limit, whose
	// accruals read the outstanding points before their transaction.
	capped sync.Map // coalition.PartnerID → struct{}
	// lanes group accruals into batches; nil: one transaction each.
	lanes  *lanes
	tracer trace.Tracer
	// passEvents: postings tell their members' wallet passes.
	passEvents atomic.Bool
	// needs is what the last batch's rules needed of its members, which
	// the next batch reads in the round trip that locks them.
	needs atomic.Pointer[stateNeeds]
}

// EnablePassEvents makes the postings from now on tell their members'
// wallet passes (Config.PassEvents): a server turns it on once it knows it
// offers passes, before it serves.
func (l *Ledger) EnablePassEvents() { l.passEvents.Store(true) }

func New(cfg Config) *Ledger {
	l := &Ledger{tx: cfg.Tx, clock: cfg.Clock, rules: cfg.Rules, funderCache: map[string]funder{}, phones: cfg.Phones, holdTTL: cfg.DefaultHoldTTL}
	l.passEvents.Store(cfg.PassEvents)
	if l.clock == nil {
		l.clock = time.Now
	}
	if l.holdTTL == 0 {
		l.holdTTL = 15 * time.Minute
	}
	l.purseHead = cfg.PurseHead
	if l.purseHead <= 0 {
		l.purseHead = DefaultPurseHead
	}
	l.tracer = cfg.Tracer
	if l.tracer == nil {
		l.tracer = noop.NewTracerProvider().Tracer("")
	}
	if cfg.Lanes >= 0 {
		n, c := cfg.Lanes, cfg.BatchCap
		if n == 0 {
			n = DefaultLanes()
		}
		if c <= 0 {
			c = DefaultBatchCap
		}
		l.lanes = newLanes(n, c)
	}
	return l
}

// now is the injected clock in UTC at microsecond precision, as stored, so
// a replayed result compares equal to the original.
func (l *Ledger) now() time.Time { return l.clock().UTC().Truncate(time.Microsecond) }

// Kind names a transaction's kind as stored.
type Kind string

const (
	KindEarn       Kind = "earn"
	KindBurn       Kind = "burn"
	KindCapture    Kind = "capture"
	KindEarnRefund Kind = "earn_refund"
	KindBurnRefund Kind = "burn_refund"
	KindExpire     Kind = "expire"
	// KindBonus is points given outside a purchase's own earn: a welcome
	// bonus, a referrer's bonus, or a promotion's points funded by someone
	// other than the partner of the purchase (or locked until a purchase
	// elsewhere). OriginalID names the earn it came with, if any.
	KindBonus Kind = "bonus"
)

// Transaction is one posting as the member sees it.
type Transaction struct {
	ID           uuid.UUID           `json:"id"`
	Kind         Kind                `json:"kind"`
	PartnerID    coalition.PartnerID `json:"partner_id"`
	MemberID     coalition.MemberID  `json:"member_id"`
	Points       coalition.Points    `json:"points"`
	Amount       *coalition.Money    `json:"amount,omitempty"`
	OrderID      string              `json:"order_id,omitempty"`
	BusinessDate string              `json:"business_date"`
	CreatedAt    time.Time           `json:"created_at"`
	OriginalID   *uuid.UUID          `json:"original_id,omitempty"`
	HoldID       *uuid.UUID          `json:"hold_id,omitempty"`
	// RuleVersion and Lines explain an earn or a bonus: the version of the
	// loyalty rules that computed it and its breakdown (in history reads).
	RuleVersion string       `json:"rule_version,omitempty"`
	Lines       []rules.Line `json:"lines,omitempty"`
}

// idempotent runs body at most once per (partner, key): a replay of the same
// operation with the same request returns the stored result and writes
// nothing; the same key with anything else is a Conflict.
func idempotent[T any](ctx context.Context, l *Ledger, partner coalition.PartnerID, key, op string, req any,
	body func(tx pgx.Tx, now time.Time) (T, error)) (T, error) {
	var out T
	if key == "" {
		return out, coalition.Errorf(coalition.Invalid, "idempotency_key", "is required")
	}
	hash, err := requestHash(op, req)
	if err != nil {
		return out, err
	}
	// The body runs first and the key is recorded last, with ON CONFLICT DO
	// NOTHING: a new key, the common case, is never read. Reading it first
	// would take a serializable read lock on the key index's page, and
	// partners' keys (and order ids) tend to be sequential, so every
	// concurrent request would read and write the same last page and
	// conflict with the others.
	err = l.tx.Write(ctx, func(tx pgx.Tx) error {
		var zero T
		out = zero
		res, err := body(tx, l.now())
		if err != nil {
			return err
		}
		resJSON, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("%s: encode result: %w", op, err)
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO idempotency_keys (partner_id, key, operation, request_hash, response, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (partner_id, key) DO NOTHING`, partner, key, op, hash, resJSON, l.now())
		if err != nil {
			return fmt.Errorf("%s: record idempotency key: %w", op, err)
		}
		if tag.RowsAffected() == 0 {
			return errKeyUsed // undoes this run's writes
		}
		out = res
		return nil
	})
	if err == nil {
		return out, nil
	}
	// The key may have been used before: then its stored answer is the
	// answer, whatever this run met (a replayed redeem finds the points
	// already spent, a replayed accrual its order already earned, a
	// replayed refusal the points now there).
	var zero T
	found, rerr := l.replay(ctx, partner, key, op, hash, &out)
	switch {
	case found && rerr != nil: // a recorded refusal, recorded for another request, or unreadable
		return zero, rerr
	case found:
		return out, nil
	case rerr != nil && errors.Is(err, errKeyUsed):
		return zero, rerr
	case errors.Is(err, errKeyUsed):
		return zero, fmt.Errorf("%s: idempotency key recorded and then not found", op)
	}
	refused, ok := recordable(err)
	if !ok {
		return zero, err
	}
	recorded, rerr := l.recordRefusal(ctx, partner, key, op, hash, refused)
	switch {
	case rerr != nil:
		return zero, rerr
	case recorded:
		return zero, refused
	}
	// Another use of the key was recorded first: its record answers.
	found, rerr = l.replay(ctx, partner, key, op, hash, &out)
	switch {
	case rerr != nil:
		return zero, rerr
	case !found:
		return zero, fmt.Errorf("%s: idempotency key recorded and then not found", op)
	}
	return out, nil
}

// requestHash is what an idempotency record keeps of its request: a
// replay must carry the same operation and request.
func requestHash(op string, req any) ([]byte, error) {
	reqJSON, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	sum := sha256.Sum256(append([]byte(op+"\x00"), reqJSON...))
	return sum[:], nil
}

// recordable says whether err is a business refusal, which is recorded
// under its key: the request was understood and the ledger's state, or a
// reference in it, forbids it. A conflict (another request under the key,
// an order already earned) and a suspended partner are not: they say
// nothing final about this request. Nor is anything a client may retry
// (the database away, a deadline), which is not a domain error.
func recordable(err error) (*coalition.Error, bool) {
	e, ok := coalition.AsError(err)
	if !ok {
		return nil, false
	}
	switch e.Code {
	case coalition.Invalid, coalition.NotFound, coalition.FailedPrecondition:
		return e, true
	}
	return nil, false
}

// refusal is a recorded refusal, as idempotency_keys.response keeps it.
type refusal struct {
	Code    coalition.Code `json:"code"`
	Field   string         `json:"field,omitempty"`
	Message string         `json:"message"`
}

// recordRefusal stores a refusal under its key. It reports false if
// another use of the key was recorded first.
func (l *Ledger) recordRefusal(ctx context.Context, partner coalition.PartnerID, key, op string, hash []byte, e *coalition.Error) (bool, error) {
	body, err := json.Marshal(refusal{Code: e.Code, Field: e.Field, Message: e.Message})
	if err != nil {
		return false, fmt.Errorf("%s: encode refusal: %w", op, err)
	}
	var recorded bool
	err = l.tx.Run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO idempotency_keys (partner_id, key, operation, request_hash, response, created_at, outcome)
			VALUES ($1, $2, $3, $4, $5, $6, 'refused')
			ON CONFLICT (partner_id, key) DO NOTHING`, partner, key, op, hash, body, l.now())
		recorded = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%s: record refusal: %w", op, err)
	}
	return recorded, nil
}

// errKeyUsed rolls back a run whose idempotency key turned out to be
// recorded already.
var errKeyUsed = errors.New("idempotency key already recorded")

// replay reads the stored answer of (partner, key) into out. It says
// whether the key was recorded; a key recorded for another operation or
// request is a Conflict.
func (l *Ledger) replay(ctx context.Context, partner coalition.PartnerID, key, op string, hash []byte, out any) (bool, error) {
	var storedOp, outcome string
	var storedHash, stored []byte
	err := l.tx.Pool().QueryRow(ctx, `
		SELECT operation, request_hash, response, outcome
		FROM idempotency_keys
		WHERE partner_id = $1 AND key = $2`, partner, key).Scan(&storedOp, &storedHash, &stored, &outcome)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: read idempotency key: %w", op, err)
	}
	if storedOp != op || !bytes.Equal(storedHash, hash) {
		return true, coalition.Errorf(coalition.Conflict, "idempotency_key",
			"was already used by this partner for a different request (%s)", storedOp)
	}
	if outcome == "refused" {
		var r refusal
		if err := json.Unmarshal(stored, &r); err != nil {
			return true, fmt.Errorf("%s: decode stored refusal: %w", op, err)
		}
		return true, &coalition.Error{Code: r.Code, Field: r.Field, Message: r.Message}
	}
	if err := json.Unmarshal(stored, out); err != nil {
		return true, fmt.Errorf("%s: decode stored result: %w", op, err)
	}
	return true, nil
}

func uniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// opContext is what every posting reads first, in its own transaction: the
// calling partner's terms, the coalition's, and the open window.
type opContext struct {
	partnerID       coalition.PartnerID
	code            string
	earnRateBP      int64
	returnWindow    time.Duration
	pointsTTLDays   int
	issuedAccount   uuid.UUID
	redeemedAccount uuid.UUID
	currency        string
	pointValueMinor int64
	location        *time.Location
	businessDate    time.Time
	status, zone    string
	liabilityLimit  *coalition.Points
}

func (c opContext) date() string { return c.businessDate.Format(time.DateOnly) }

const contextSQL = `
	SELECT ` + contextColumns + contextFrom + `p.id = $1`

// contextsSQL is contextSQL for the partners $1 of a batch, each row led by
// the partner's id.
const contextsSQL = `
	SELECT p.id, ` + contextColumns + contextFrom + `p.id = ANY($1)`

const contextColumns = `
	       p.code, p.status, p.earn_rate_bp, p.return_window_seconds, p.points_ttl_days,
	       p.issued_account_id, p.redeemed_account_id,
	       s.currency, s.point_value_minor, s.time_zone, w.business_date, p.liability_limit_points`

const contextFrom = `
	FROM partners AS p, coalition_settings AS s, settlement_windows AS w
	WHERE p.kind <> 'operator' AND s.id = 1 AND w.status = 'open' AND `

// lockWindow is the first lock of the ledger's protocol: a posting holds
// the open window in share mode until it commits, so that clearing, which
// takes the window FOR UPDATE after closing it, waits for every posting
// that found it open (docs/DATABASE.md, invariant 8).
const lockWindow = `
	FOR KEY SHARE OF w`

// access says whether a transaction reads or posts. A posting takes the
// protocol's locks as it reads: the window in share mode, then its members
// FOR UPDATE; a read takes none.
type access bool

const (
	reading access = false
	posts   access = true
)

func (a access) window() string {
	if a == posts {
		return lockWindow
	}
	return ""
}

func (a access) member() string {
	if a == posts {
		return lockMember
	}
	return ""
}

func loadContext(ctx context.Context, tx pgx.Tx, partner coalition.PartnerID, a access) (opContext, error) {
	c, err := scanContext(tx.QueryRow(ctx, contextSQL+a.window(), partner), partner)
	return finishContext(ctx, tx, c, err)
}

// loadContextAndMember is loadContext and findMember in one round trip,
// with any further reads more queues on the same batch. The partner's
// refusal, if any, comes first, as when they run in turn.
func loadContextAndMember(ctx context.Context, tx pgx.Tx, a access, partner coalition.PartnerID, ref MemberRef, phoneHash []byte,
	field string, more ...func(*pgx.Batch)) (opContext, memberRow, error) {
	where, arg, sub, err := memberWhere(ref, phoneHash, field)
	if err != nil {
		c, cerr := loadContext(ctx, tx, partner, a)
		if cerr != nil {
			return c, memberRow{}, cerr
		}
		return c, memberRow{}, err
	}
	var c opContext
	var m memberRow
	var cerr, merr error
	b := &pgx.Batch{}
	b.Queue(contextSQL+a.window(), partner).QueryRow(func(r pgx.Row) error {
		c, cerr = scanContext(r, partner)
		return nil
	})
	// The member's lock comes before the batch's further reads, which
	// therefore see every posting of the member that committed before it.
	b.Queue(memberSQL+where+a.member(), arg).QueryRow(func(r pgx.Row) error {
		m, merr = scanMember(r, field, sub)
		return nil
	})
	for _, q := range more {
		q(b)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return c, m, fmt.Errorf("load context of partner %s and member: %w", partner, err)
	}
	if c, cerr = finishContext(ctx, tx, c, cerr); cerr != nil {
		return c, m, cerr
	}
	return c, m, merr
}

// scanContext scans a row of contextColumns, after the columns of first if
// any precede them.
func scanContext(row pgx.Row, partner coalition.PartnerID, first ...any) (opContext, error) {
	c := opContext{partnerID: partner}
	var returnSeconds int64
	err := row.Scan(append(first, &c.code, &c.status, &c.earnRateBP, &returnSeconds, &c.pointsTTLDays,
		&c.issuedAccount, &c.redeemedAccount,
		&c.currency, &c.pointValueMinor, &c.zone, &c.businessDate, &c.liabilityLimit)...)
	c.returnWindow = time.Duration(returnSeconds) * time.Second
	return c, err
}

// finishContext explains a missing row and refuses an inactive partner.
func finishContext(ctx context.Context, tx pgx.Tx, c opContext, err error) (opContext, error) {
	partner := c.partnerID
	if errors.Is(err, pgx.ErrNoRows) {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM partners WHERE id = $1 AND kind <> 'operator'`, partner).Scan(&n); err != nil {
			return c, fmt.Errorf("load partner %s: %w", partner, err)
		}
		if n == 0 {
			return c, coalition.Errorf(coalition.PermissionDenied, "", "partner %s is not a member of the coalition", partner)
		}
		var open int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM settlement_windows`).Scan(&open); err != nil {
			return c, fmt.Errorf("load windows: %w", err)
		}
		if open > 0 {
			// Clearing closed the window while this statement waited for
			// it; the next attempt finds the next one open.
			return c, txn.ErrRetry
		}
		return c, errors.New("ledger is not initialised: no coalition settings or no open settlement window")
	}
	if err != nil {
		return c, fmt.Errorf("load context of partner %s: %w", partner, err)
	}
	if c.status != "active" {
		return c, coalition.Errorf(coalition.PermissionDenied, "", "partner %s is %s", c.code, c.status)
	}
	if c.location, err = location(c.zone); err != nil {
		return c, fmt.Errorf("coalition time zone %q: %w", c.zone, err)
	}
	return c, nil
}

// locations keeps the time zones loaded: time.LoadLocation reads and
// parses the zone's file on every call, and every posting needs the
// coalition's zone to place itself in a business day.
var locations sync.Map // name → *time.Location

func location(name string) (*time.Location, error) {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}
