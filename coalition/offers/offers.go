// Package offers holds personal offers and their coupons: who an offer
// targets (a segment, a list of members, or whoever presents one of its
// coupons), what it gives, where, when and up to what budget, and who
// funds it. The ledger applies them in an accrual's own transaction
// (eligibility.go); this package makes, lists and ends them.
package offers

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// Targets of an offer.
const (
	TargetSegment = "segment" // the members of a segment, as of its last computation
	TargetMembers = "members" // a list of members, named by card number
	TargetCoupons = "coupons" // whoever presents one of its coupons
)

// Limits on what one request may ask.
const (
	MaxMembers      = 100_000
	MaxCouponsIssue = 10_000
	MaxCouponUses   = 1_000_000
)

// Offer is a personal offer as it is made and listed.
type Offer struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// Owner is the code of the partner that made it, or "operator".
	Owner  string `json:"owner"`
	Target string `json:"target"`
	// Segment is the code of the targeted segment (the owner's own
	// segments; the coalition's for the operator).
	Segment string `json:"segment,omitempty"`
	// Members are the targeted members' card numbers (when made).
	Members     []string `json:"members,omitempty"`
	MemberCount int      `json:"-"`

	BonusPoints  coalition.Points `json:"bonus_points,omitempty"`
	MultiplierBP int64            `json:"multiplier_bp,omitempty"`
	// Scope; empty: any. A partner's offers apply at its own tills only.
	Partners         []string         `json:"partners,omitempty"`
	Categories       []string         `json:"categories,omitempty"`
	MinPurchaseMinor int64            `json:"min_purchase_minor,omitempty"`
	Starts           time.Time        `json:"starts"`
	Ends             time.Time        `json:"ends"`
	BudgetPoints     coalition.Points `json:"budget_points"`
	// FundedBy is "partner" (where the purchase is made), "operator" or
	// a partner's code, as for promotions.
	FundedBy string `json:"funded_by"`

	CreatedAt  time.Time        `json:"-"`
	EndedAt    *time.Time       `json:"-"`
	BudgetUsed coalition.Points `json:"-"`
	// Coupons issued, and how many times they were used in all.
	CouponsIssued int   `json:"-"`
	CouponUses    int64 `json:"-"`
}

// Running says whether the offer applies at t.
func (o Offer) Running(t time.Time) bool {
	return o.EndedAt == nil && !t.Before(o.Starts) && t.Before(o.Ends)
}

// Actor is who manages offers: the operator, or one partner (its API
// credential or its portal staff), which makes, sees and ends only its
// own offers.
type Actor struct {
	Operator bool
	Partner  coalition.PartnerID
}

// Config wires a Store.
type Config struct {
	Tx    *txn.Runner
	Clock func() time.Time // time.Now if nil
}

// Store makes and reads offers and coupons.
type Store struct {
	tx    *txn.Runner
	clock func() time.Time
}

func New(cfg Config) *Store {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Store{tx: cfg.Tx, clock: cfg.Clock}
}

func (s *Store) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

var codePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$`)

// check refuses what no state can make right.
func (o *Offer) check() error {
	switch {
	case !codePattern.MatchString(o.Code):
		return coalition.Errorf(coalition.Invalid, "code", "must be 1 to 40 letters, digits, '-' or '_', starting with a letter or digit")
	case o.Name == "" || len(o.Name) > 100:
		return coalition.Errorf(coalition.Invalid, "name", "must be 1 to 100 characters")
	case o.BonusPoints < 0 || o.BonusPoints > coalition.MaxAmount:
		return coalition.Errorf(coalition.Invalid, "bonus_points", "must be between 0 and %d", int64(coalition.MaxAmount))
	case o.MultiplierBP < 0 || o.MultiplierBP > 100_000:
		return coalition.Errorf(coalition.Invalid, "multiplier_bp", "must be between 0 and 100000 (ten times the base points)")
	case o.BonusPoints == 0 && o.MultiplierBP == 0:
		return coalition.Errorf(coalition.Invalid, "bonus_points", "an offer gives bonus points, a multiplier, or both")
	case o.MinPurchaseMinor < 0 || o.MinPurchaseMinor > coalition.MaxAmount:
		return coalition.Errorf(coalition.Invalid, "min_purchase_minor", "must be between 0 and %d", int64(coalition.MaxAmount))
	case o.Starts.IsZero():
		return coalition.Errorf(coalition.Invalid, "starts", "is required")
	case !o.Ends.After(o.Starts):
		return coalition.Errorf(coalition.Invalid, "ends", "must be after starts")
	case o.BudgetPoints <= 0 || o.BudgetPoints > coalition.MaxAmount:
		return coalition.Errorf(coalition.Invalid, "budget_points", "must be between 1 and %d", int64(coalition.MaxAmount))
	case len(o.Members) > MaxMembers:
		return coalition.Errorf(coalition.Invalid, "members", "at most %d members", MaxMembers)
	case o.Segment != "" && len(o.Members) > 0:
		return coalition.Errorf(coalition.Invalid, "members", "an offer targets a segment or a list of members, not both")
	}
	for i, c := range o.Categories {
		if c == "" || len(c) > 64 {
			return coalition.Errorf(coalition.Invalid, fmt.Sprintf("categories[%d]", i), "must be 1 to 64 characters")
		}
	}
	switch {
	case o.Segment != "":
		o.Target = TargetSegment
	case len(o.Members) > 0:
		o.Target = TargetMembers
	default:
		o.Target = TargetCoupons
	}
	o.Starts, o.Ends = o.Starts.UTC().Truncate(time.Microsecond), o.Ends.UTC().Truncate(time.Microsecond)
	slices.Sort(o.Members)
	o.Members = slices.Compact(o.Members)
	slices.Sort(o.Partners)
	o.Partners = slices.Compact(o.Partners)
	slices.Sort(o.Categories)
	o.Categories = slices.Compact(o.Categories)
	return nil
}

// owner is the partner row that acts: the operator's own row for the
// operator.
type owner struct {
	id       coalition.PartnerID
	code     string
	operator bool
}

func loadOwner(ctx context.Context, tx pgx.Tx, a Actor) (owner, error) {
	var o owner
	var err error
	if a.Operator {
		o.operator = true
		err = tx.QueryRow(ctx, `SELECT id, code FROM partners WHERE kind = 'operator'`).Scan(&o.id, &o.code)
	} else {
		var status string
		err = tx.QueryRow(ctx, `SELECT id, code, status FROM partners WHERE id = $1 AND kind <> 'operator'`, a.Partner).Scan(&o.id, &o.code, &status)
		if err == nil && status != "active" {
			return o, coalition.Errorf(coalition.PermissionDenied, "", "partner %s is %s", o.code, status)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return o, coalition.Errorf(coalition.PermissionDenied, "", "not a partner of the coalition")
	}
	if err != nil {
		return o, fmt.Errorf("offers: who acts: %w", err)
	}
	return o, nil
}

// Create makes an offer. It is idempotent by code: the same offer asked
// again returns the one made; another offer under a code in use is a
// Conflict. A partner's offer is funded by the partner and applies at its
// own tills (Partners and FundedBy default to it and may name nothing
// else), and targets one of its own segments; the operator's may name
// any funder, any partners and the coalition's segments.
func (s *Store) Create(ctx context.Context, a Actor, o Offer) (Offer, error) {
	if err := o.check(); err != nil {
		return Offer{}, err
	}
	var out Offer
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		own, err := loadOwner(ctx, tx, a)
		if err != nil {
			return err
		}
		in := o
		if !own.operator {
			if in.FundedBy == "" {
				in.FundedBy = own.code
			}
			if in.FundedBy != own.code && in.FundedBy != rules.FundedByPartner {
				return coalition.Errorf(coalition.PermissionDenied, "funded_by", "a partner's offers are funded by the partner itself")
			}
			in.FundedBy = own.code
			if len(in.Partners) == 0 {
				in.Partners = []string{own.code}
			}
			if !slices.Equal(in.Partners, []string{own.code}) {
				return coalition.Errorf(coalition.PermissionDenied, "partners", "a partner's offers apply at its own tills only")
			}
		} else if in.FundedBy == "" {
			in.FundedBy = rules.FundedByOperator
		}
		in.Owner = own.code
		hash := requestHash(in)
		var existingOwner coalition.PartnerID
		var existingHash []byte
		err = tx.QueryRow(ctx, `SELECT owner_id, request_hash FROM offers WHERE code = $1`, in.Code).Scan(&existingOwner, &existingHash)
		switch {
		case err == nil && existingOwner == own.id && string(existingHash) == string(hash):
			out, err = readOffer(ctx, tx, in.Code)
			return err
		case err == nil:
			return coalition.Errorf(coalition.Conflict, "code", "offer %s exists already, with other terms", in.Code)
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("offers: find %s: %w", in.Code, err)
		}
		// Every partner the offer names must be in the coalition.
		named := append(slices.Clone(in.Partners), in.FundedBy)
		rows, err := tx.Query(ctx, `SELECT code FROM partners WHERE code = ANY($1) AND kind <> 'operator'`, named)
		if err != nil {
			return fmt.Errorf("offers: partners: %w", err)
		}
		known, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("offers: partners: %w", err)
		}
		for i, p := range in.Partners {
			if !slices.Contains(known, p) {
				return coalition.Errorf(coalition.NotFound, fmt.Sprintf("partners[%d]", i), "no partner %q in the coalition", p)
			}
		}
		if f := in.FundedBy; f != rules.FundedByPartner && f != rules.FundedByOperator && !slices.Contains(known, f) {
			return coalition.Errorf(coalition.NotFound, "funded_by", `must be "partner", "operator" or a partner's code, got %q`, f)
		}
		var segment *uuid.UUID
		if in.Target == TargetSegment {
			var ownerOfSegment *coalition.PartnerID
			if !own.operator {
				ownerOfSegment = &own.id
			}
			var id uuid.UUID
			err := tx.QueryRow(ctx, `SELECT id FROM segments WHERE code = $1 AND partner_id IS NOT DISTINCT FROM $2`,
				in.Segment, ownerOfSegment).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return coalition.Errorf(coalition.NotFound, "segment", "no segment %q of yours", in.Segment)
			}
			if err != nil {
				return fmt.Errorf("offers: segment: %w", err)
			}
			segment = &id
		}
		id := coalition.NewID()
		now := s.now()
		if _, err := tx.Exec(ctx, `
			INSERT INTO offers (id, code, owner_id, name, target, segment_id, bonus_points, multiplier_bp, partners, categories,
			                    min_purchase_minor, starts_at, ends_at, budget_points, funded_by, request_hash, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			id, in.Code, own.id, in.Name, in.Target, segment, in.BonusPoints, in.MultiplierBP, nonNil(in.Partners), nonNil(in.Categories),
			in.MinPurchaseMinor, in.Starts, in.Ends, in.BudgetPoints, in.FundedBy, hash, now); err != nil {
			return fmt.Errorf("offers: insert %s: %w", in.Code, err)
		}
		if in.Target == TargetMembers {
			tag, err := tx.Exec(ctx, `
				INSERT INTO offer_members (offer_id, member_id)
				SELECT $1, id FROM members WHERE card_number = ANY($2)`, id, in.Members)
			if err != nil {
				return fmt.Errorf("offers: members of %s: %w", in.Code, err)
			}
			if n := int(tag.RowsAffected()); n != len(in.Members) {
				return coalition.Errorf(coalition.NotFound, "members", "%d of the %d card numbers name no member", len(in.Members)-n, len(in.Members))
			}
		}
		out, err = readOffer(ctx, tx, in.Code)
		return err
	})
	if err != nil {
		return Offer{}, err
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// requestHash is what an offer keeps of the request that made it.
func requestHash(o Offer) []byte {
	b, err := json.Marshal(o)
	if err != nil {
		panic(err) // strings, integers and times
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

const offerColumns = `
	SELECT o.code, p.code, o.name, o.target, COALESCE(s.code, ''),
	       (SELECT count(*) FROM offer_members AS om WHERE om.offer_id = o.id),
	       o.bonus_points, o.multiplier_bp, o.partners, o.categories, o.min_purchase_minor,
	       o.starts_at, o.ends_at, o.budget_points, o.funded_by, o.created_at, o.ended_at,
	       COALESCE((SELECT SUM(granted) FROM promotion_budgets AS b WHERE b.promotion = 'offer:' || o.code), 0),
	       (SELECT count(*) FROM coupons AS c WHERE c.offer_id = o.id),
	       COALESCE((SELECT SUM(uses) FROM coupons AS c WHERE c.offer_id = o.id), 0)
	FROM offers AS o
	JOIN partners AS p ON p.id = o.owner_id
	LEFT JOIN segments AS s ON s.id = o.segment_id`

func scanOffer(r pgx.Row) (Offer, error) {
	var o Offer
	err := r.Scan(&o.Code, &o.Owner, &o.Name, &o.Target, &o.Segment, &o.MemberCount,
		&o.BonusPoints, &o.MultiplierBP, &o.Partners, &o.Categories, &o.MinPurchaseMinor,
		&o.Starts, &o.Ends, &o.BudgetPoints, &o.FundedBy, &o.CreatedAt, &o.EndedAt,
		&o.BudgetUsed, &o.CouponsIssued, &o.CouponUses)
	return o, err
}

func readOffer(ctx context.Context, tx pgx.Tx, code string) (Offer, error) {
	o, err := scanOffer(tx.QueryRow(ctx, offerColumns+` WHERE o.code = $1`, code))
	if err != nil {
		return Offer{}, fmt.Errorf("offers: read %s: %w", code, err)
	}
	return o, nil
}

// List returns the actor's offers (every offer, for the operator), newest
// first, with the budget they used and their coupons' uses.
func (s *Store) List(ctx context.Context, a Actor) ([]Offer, error) {
	var out []Offer
	err := s.tx.Read(ctx, func(tx pgx.Tx) error {
		var ownerID *coalition.PartnerID
		if !a.Operator {
			ownerID = &a.Partner
		}
		rows, err := tx.Query(ctx, offerColumns+`
			WHERE $1::UUID IS NULL OR o.owner_id = $1
			ORDER BY o.created_at DESC, o.code`, ownerID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Offer, error) { return scanOffer(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("offers: list: %w", err)
	}
	return out, nil
}

// Get returns one of the actor's offers.
func (s *Store) Get(ctx context.Context, a Actor, code string) (Offer, error) {
	var out Offer
	err := s.tx.Read(ctx, func(tx pgx.Tx) error {
		if _, err := ownOffer(ctx, tx, a, code); err != nil {
			return err
		}
		var err error
		out, err = readOffer(ctx, tx, code)
		return err
	})
	return out, err
}

// ownOffer is the id of an offer the actor may manage; another partner's
// offer is as unknown as one that does not exist.
func ownOffer(ctx context.Context, tx pgx.Tx, a Actor, code string) (uuid.UUID, error) {
	var id uuid.UUID
	var ownerID coalition.PartnerID
	err := tx.QueryRow(ctx, `SELECT id, owner_id FROM offers WHERE code = $1`, code).Scan(&id, &ownerID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !a.Operator && ownerID != a.Partner) {
		return id, coalition.Errorf(coalition.NotFound, "code", "no offer %q of yours", code)
	}
	if err != nil {
		return id, fmt.Errorf("offers: find %s: %w", code, err)
	}
	return id, nil
}

// End stops an offer now: accruals from now on no longer apply it, and
// its coupons are refused. Ending an ended offer changes nothing.
func (s *Store) End(ctx context.Context, a Actor, code string) (Offer, error) {
	var out Offer
	err := s.tx.Run(ctx, func(tx pgx.Tx) error {
		if _, err := ownOffer(ctx, tx, a, code); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE offers SET ended_at = $2 WHERE code = $1 AND ended_at IS NULL`, code, s.now()); err != nil {
			return fmt.Errorf("offers: end %s: %w", code, err)
		}
		var err error
		out, err = readOffer(ctx, tx, code)
		return err
	})
	return out, err
}
