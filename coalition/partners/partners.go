// Package partners is the coalition's register of partners: who they are,
// their terms (earn rate, return window, points lifetime) and whether they
// may trade. Operators change it; the ledger only reads it.
package partners

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

// Partner is a merchant of the coalition.
type Partner struct {
	ID            coalition.PartnerID
	Code          string // short, unique, used by people and in dev credentials
	Name          string
	Kind          string // café, cinema, fuel, online shop…
	Status        string // active or suspended
	EarnRateBP    int64
	ReturnWindow  time.Duration
	PointsTTLDays int
	CreatedAt     time.Time
	// The partner's own fees in basis points; nil means the coalition's.
	InterchangeFeeBP, IssueFeeBP, BreakageShareBP *int64
	// LiabilityLimit caps the points the partner may have outstanding; nil
	// means no cap.
	LiabilityLimit *coalition.Points
}

// Register reads and changes partners.
type Register struct {
	tx    *txn.Runner
	clock func() time.Time
	// statusChanges counts the status changes made through this register,
	// so that a cache of partners' standing in this process can tell it is
	// out of date (Changes).
	statusChanges atomic.Uint64
}

// Changes counts the partners' status changes made through this register
// (in this process): a cache of their standing filled before the count
// last moved is out of date.
func (r *Register) Changes() uint64 { return r.statusChanges.Load() }

// Config wires a register.
type Config struct {
	Tx    *txn.Runner
	Clock func() time.Time // time.Now if nil
}

func New(cfg Config) *Register {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Register{tx: cfg.Tx, clock: cfg.Clock}
}

var codePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)

// Add registers a partner, with its three ledger accounts, and returns it.
func (r *Register) Add(ctx context.Context, p Partner) (Partner, error) {
	switch {
	case !codePattern.MatchString(p.Code):
		return p, coalition.Errorf(coalition.Invalid, "code", "must be 2-32 lowercase letters, digits or '-', starting with a letter")
	case p.Name == "" || len(p.Name) > 200:
		return p, coalition.Errorf(coalition.Invalid, "name", "must be 1 to 200 characters")
	case p.Kind == "operator":
		return p, coalition.Errorf(coalition.Invalid, "kind", "kind operator is the coalition operator's own")
	case p.EarnRateBP < 0 || p.EarnRateBP > 10_000:
		return p, coalition.Errorf(coalition.Invalid, "earn_rate_bp", "must be between 0 and 10000")
	case p.ReturnWindow < 0 || p.ReturnWindow%time.Second != 0:
		return p, coalition.Errorf(coalition.Invalid, "return_window", "must be whole seconds, not negative")
	case p.PointsTTLDays <= 0:
		return p, coalition.Errorf(coalition.Invalid, "points_ttl_days", "must be positive")
	case p.LiabilityLimit != nil && *p.LiabilityLimit < 0:
		return p, coalition.Errorf(coalition.Invalid, "liability_limit", "must not be negative")
	}
	for field, bp := range map[string]*int64{"interchange_fee_bp": p.InterchangeFeeBP, "issue_fee_bp": p.IssueFeeBP, "breakage_share_bp": p.BreakageShareBP} {
		if bp != nil && (*bp < 0 || *bp > 10_000) {
			return p, coalition.Errorf(coalition.Invalid, field, "must be between 0 and 10000")
		}
	}
	if p.ID == (coalition.PartnerID{}) {
		p.ID = coalition.NewPartnerID()
	}
	p.Status = "active"
	p.CreatedAt = r.clock().UTC().Truncate(time.Microsecond)
	issued, redeemed, breakage := uuid.New(), uuid.New(), uuid.New()
	err := r.tx.Run(ctx, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM partners WHERE code = $1`, p.Code).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return coalition.Errorf(coalition.Conflict, "code", "partner %q already exists", p.Code)
		}
		b := &pgx.Batch{}
		b.Queue(`
			INSERT INTO accounts (id, kind, owner_id)
			VALUES ($1, 'partner_issued', $4), ($2, 'partner_redeemed', $4), ($3, 'partner_breakage', $4)`,
			issued, redeemed, breakage, p.ID)
		b.Queue(`
			INSERT INTO partners (id, code, name, kind, status, earn_rate_bp, return_window_seconds, points_ttl_days,
			                      issued_account_id, redeemed_account_id, breakage_account_id, created_at,
			                      interchange_fee_bp, issue_fee_bp, breakage_share_bp, liability_limit_points)
			VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			p.ID, p.Code, p.Name, p.Kind, p.EarnRateBP, int64(p.ReturnWindow/time.Second), p.PointsTTLDays,
			issued, redeemed, breakage, p.CreatedAt,
			p.InterchangeFeeBP, p.IssueFeeBP, p.BreakageShareBP, p.LiabilityLimit)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return p, fmt.Errorf("add partner %s: %w", p.Code, err)
	}
	return p, nil
}

const selectPartner = `
	SELECT id, code, name, kind, status, earn_rate_bp, return_window_seconds, points_ttl_days, created_at,
	       interchange_fee_bp, issue_fee_bp, breakage_share_bp, liability_limit_points
	FROM partners
	WHERE kind <> 'operator'` // the operator's own issuer row is not a partner

func scan(row pgx.CollectableRow) (Partner, error) {
	var p Partner
	var seconds int64
	err := row.Scan(&p.ID, &p.Code, &p.Name, &p.Kind, &p.Status, &p.EarnRateBP, &seconds, &p.PointsTTLDays, &p.CreatedAt,
		&p.InterchangeFeeBP, &p.IssueFeeBP, &p.BreakageShareBP, &p.LiabilityLimit)
	p.ReturnWindow = time.Duration(seconds) * time.Second
	return p, err
}

// List returns every partner, by code.
func (r *Register) List(ctx context.Context) ([]Partner, error) {
	rows, err := r.tx.Pool().Query(ctx, selectPartner+` ORDER BY code`)
	if err != nil {
		return nil, fmt.Errorf("list partners: %w", err)
	}
	return pgx.CollectRows(rows, scan)
}

// ByCode finds a partner by its code.
func (r *Register) ByCode(ctx context.Context, code string) (Partner, error) {
	rows, err := r.tx.Pool().Query(ctx, selectPartner+` AND code = $1`, code)
	if err != nil {
		return Partner{}, fmt.Errorf("partner %s: %w", code, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, coalition.Errorf(coalition.NotFound, "code", "no partner %q", code)
	}
	return p, err
}

// ByID finds a partner by its id. The gRPC edge reads it on every request
// of a partner, to refuse a suspended one whatever it asks.
func (r *Register) ByID(ctx context.Context, id coalition.PartnerID) (Partner, error) {
	rows, err := r.tx.Pool().Query(ctx, selectPartner+` AND id = $1`, id)
	if err != nil {
		return Partner{}, fmt.Errorf("partner %s: %w", id, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, coalition.Errorf(coalition.NotFound, "", "no partner %s", id)
	}
	if err != nil {
		return p, fmt.Errorf("partner %s: %w", id, err)
	}
	return p, nil
}

// SetStatus suspends a partner, or activates a suspended one again. A
// suspended partner's requests, to any service and with any credential,
// are refused from the next call on.
func (r *Register) SetStatus(ctx context.Context, code, status string) error {
	if status != "active" && status != "suspended" {
		return coalition.Errorf(coalition.Invalid, "status", "must be active or suspended")
	}
	var n int64
	err := r.tx.Run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE partners SET status = $2 WHERE code = $1 AND kind <> 'operator'`, code, status)
		n = tag.RowsAffected()
		return err
	})
	r.statusChanges.Add(1) // even on failure: the change may have committed
	if err != nil {
		return fmt.Errorf("set status of %s: %w", code, err)
	}
	if n == 0 {
		return coalition.Errorf(coalition.NotFound, "code", "no partner %q", code)
	}
	return nil
}

// PartnerIDByCode resolves a partner's code to its id (for credentials that
// name the partner by code).
func (r *Register) PartnerIDByCode(ctx context.Context, code string) (coalition.PartnerID, error) {
	p, err := r.ByCode(ctx, code)
	return p.ID, err
}

// SetLiabilityLimit caps the points a partner may have outstanding from its
// next accrual on, or lifts the cap (nil). A new cap below what the partner
// has outstanding already refuses its accruals until points are spent or
// expire; nothing issued is taken back.
func (r *Register) SetLiabilityLimit(ctx context.Context, code string, limit *coalition.Points) error {
	if limit != nil && *limit < 0 {
		return coalition.Errorf(coalition.Invalid, "liability_limit", "must not be negative")
	}
	var n int64
	err := r.tx.Run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE partners SET liability_limit_points = $2 WHERE code = $1 AND kind <> 'operator'`, code, limit)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("set liability limit of %s: %w", code, err)
	}
	if n == 0 {
		return coalition.Errorf(coalition.NotFound, "code", "no partner %q", code)
	}
	return nil
}
