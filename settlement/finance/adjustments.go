package finance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// Kinds of adjustment.
const (
	PointsAdjustment = "points" // points to a member, funded by a party
	MoneyAdjustment  = "money"  // money from one party to another
)

// Adjustment is a correction that one person proposes and another approves
// or rejects. Approved, a points adjustment is posted through the ledger
// (TransactionID) and cleared with its window like any funded bonus; a
// money adjustment is carried by the payer's and the payee's next payment
// instructions.
type Adjustment struct {
	ID     uuid.UUID
	Kind   string
	Member coalition.MemberID // points
	Points coalition.Points   // points
	Funder string             // points: a partner's code or clearing.Operator
	Payer  string             // money
	Payee  string             // money
	Minor  int64              // money
	// BusinessDate is the window a money adjustment corrects.
	BusinessDate     time.Time
	Reason           string
	Status           string // proposed, approved, rejected
	ProposedBy       Actor
	ProposedAt       time.Time
	DecidedBy        *Actor
	DecidedAt        *time.Time
	DecisionNote     string
	TransactionID    *uuid.UUID
	PayerInstruction string
	PayeeInstruction string
}

// ProposeAdjustment records a correction for a second person to decide.
func (f *Finance) ProposeAdjustment(ctx context.Context, by Actor, a Adjustment) (Adjustment, error) {
	if err := checkActor(by); err != nil {
		return Adjustment{}, err
	}
	a.Reason = strings.TrimSpace(a.Reason)
	if err := validateAdjustment(a); err != nil {
		return Adjustment{}, err
	}
	a.ID, a.Status, a.ProposedBy, a.ProposedAt = coalition.NewID(), "proposed", by, f.now()
	err := f.tx.Write(ctx, func(tx pgx.Tx) error {
		var member *coalition.MemberID
		var points *coalition.Points
		var funder, payer, payee *string
		var minor *int64
		var date *time.Time
		if a.Kind == PointsAdjustment {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM members WHERE id = $1`, a.Member).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return coalition.Errorf(coalition.NotFound, "member_id", "no member %s", a.Member)
			}
			if err := knownFunder(ctx, tx, a.Funder); err != nil {
				return err
			}
			member, points, funder = &a.Member, &a.Points, &a.Funder
		} else {
			for field, p := range map[string]string{"payer": a.Payer, "payee": a.Payee} {
				if err := knownParty(ctx, tx, p); err != nil {
					e, _ := coalition.AsError(err)
					if e != nil {
						e.Field = field
					}
					return err
				}
			}
			var cleared bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clearing_reports WHERE business_date = $1)`, a.BusinessDate).Scan(&cleared); err != nil {
				return err
			}
			if !cleared {
				return coalition.Errorf(coalition.FailedPrecondition, "business_date", "window %s is not cleared: a money adjustment corrects a cleared window",
					a.BusinessDate.Format(time.DateOnly))
			}
			payer, payee, minor, date = &a.Payer, &a.Payee, &a.Minor, &a.BusinessDate
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO adjustments (id, kind, member_id, points, funder, payer, payee, amount_minor, business_date,
			                         reason, status, proposed_by, proposed_by_name, proposed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'proposed', $11, $12, $13)`,
			a.ID, a.Kind, member, points, funder, payer, payee, minor, date, a.Reason, by.ID, by.Name, a.ProposedAt)
		return err
	})
	if err != nil {
		return Adjustment{}, fmt.Errorf("propose adjustment: %w", err)
	}
	return a, nil
}

func validateAdjustment(a Adjustment) error {
	if a.Reason == "" || len([]rune(a.Reason)) > 500 {
		return coalition.Errorf(coalition.Invalid, "reason", "say why, in 1 to 500 characters")
	}
	switch a.Kind {
	case PointsAdjustment:
		switch {
		case a.Member == (coalition.MemberID{}):
			return coalition.Errorf(coalition.Invalid, "member_id", "name the member")
		case a.Points <= 0:
			return coalition.Errorf(coalition.Invalid, "points", "must be positive")
		case a.Funder == "":
			return coalition.Errorf(coalition.Invalid, "funder", "name the partner (or the operator) who funds the points")
		}
	case MoneyAdjustment:
		switch {
		case a.Payer == "":
			return coalition.Errorf(coalition.Invalid, "payer", "name who pays")
		case a.Payee == "":
			return coalition.Errorf(coalition.Invalid, "payee", "name who is paid")
		case a.Payer == a.Payee:
			return coalition.Errorf(coalition.Invalid, "payee", "must differ from the payer")
		case a.Minor <= 0:
			return coalition.Errorf(coalition.Invalid, "amount_minor", "must be positive")
		case a.BusinessDate.IsZero():
			return coalition.Errorf(coalition.Invalid, "business_date", "name the window the adjustment corrects")
		}
	default:
		return coalition.Errorf(coalition.Invalid, "kind", "must be points or money")
	}
	return nil
}

// knownFunder refuses a funder the coalition does not have; the operator
// funds points too.
func knownFunder(ctx context.Context, tx pgx.Tx, code string) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM partners WHERE code = $1`, code).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return coalition.Errorf(coalition.NotFound, "funder", "no partner %q in the coalition", code)
	}
	return nil
}

// DecideAdjustment approves or rejects a proposed adjustment. The person
// who proposed it may do neither. An approved points adjustment is posted
// in the same transaction as its approval: concurrent approvers are taken
// one at a time on the adjustment's row, and the second finds it decided,
// so it posts exactly once.
func (f *Finance) DecideAdjustment(ctx context.Context, by Actor, id uuid.UUID, approve bool, note string) (Adjustment, error) {
	if err := checkActor(by); err != nil {
		return Adjustment{}, err
	}
	if len([]rune(note)) > 500 {
		return Adjustment{}, coalition.Errorf(coalition.Invalid, "note", "must be at most 500 characters")
	}
	var a Adjustment
	err := f.tx.Write(ctx, func(tx pgx.Tx) error {
		var err error
		if a, err = scanAdjustment(tx.QueryRow(ctx, adjustmentSelect+` WHERE id = $1 FOR UPDATE`, id)); errors.Is(err, pgx.ErrNoRows) {
			return coalition.Errorf(coalition.NotFound, "id", "no adjustment %s", id)
		} else if err != nil {
			return err
		}
		if a.Status != "proposed" {
			return coalition.Errorf(coalition.FailedPrecondition, "id", "adjustment %s is already %s", id, a.Status)
		}
		if a.ProposedBy.ID == by.ID {
			return coalition.Errorf(coalition.PermissionDenied, "id", "the person who proposed an adjustment cannot also decide it")
		}
		now := f.now()
		a.Status, a.DecidedBy, a.DecidedAt, a.DecisionNote = "rejected", &by, &now, note
		if approve {
			a.Status = "approved"
			if a.Kind == PointsAdjustment {
				t, err := f.ledger.GrantIn(ctx, tx, ledger.Grant{Funder: a.Funder, Member: a.Member, Points: a.Points,
					Reason: "Adjustment: " + a.Reason})
				if err != nil {
					return err
				}
				tid := t.ID
				a.TransactionID = &tid
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE adjustments SET status = $2, decided_by = $3, decided_by_name = $4, decided_at = $5,
			       decision_note = $6, transaction_id = $7
			WHERE id = $1`, id, a.Status, by.ID, by.Name, now, note, a.TransactionID)
		return err
	})
	if err != nil {
		return Adjustment{}, fmt.Errorf("decide adjustment %s: %w", id, err)
	}
	return a, nil
}

// Adjustments lists adjustments, newest first (of one status when status
// is not empty).
func (f *Finance) Adjustments(ctx context.Context, status string, limit int) ([]Adjustment, error) {
	rows, err := f.tx.Pool().Query(ctx, adjustmentSelect+`
		WHERE $1 = '' OR status = $1 ORDER BY proposed_at DESC, id LIMIT $2`, status, limit)
	if err != nil {
		return nil, fmt.Errorf("adjustments: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Adjustment, error) { return scanAdjustment(r) })
}

const adjustmentSelect = `
	SELECT id, kind, member_id, points, funder, payer, payee, amount_minor, business_date, reason, status,
	       proposed_by, proposed_by_name, proposed_at, decided_by, decided_by_name, decided_at, decision_note,
	       transaction_id, payer_instruction, payee_instruction
	FROM adjustments`

func scanAdjustment(r pgx.Row) (Adjustment, error) {
	var a Adjustment
	var member *coalition.MemberID
	var points *coalition.Points
	var funder, payer, payee, decidedBy, decidedName, payerIn, payeeIn *string
	var minor *int64
	var date *time.Time
	err := r.Scan(&a.ID, &a.Kind, &member, &points, &funder, &payer, &payee, &minor, &date, &a.Reason, &a.Status,
		&a.ProposedBy.ID, &a.ProposedBy.Name, &a.ProposedAt, &decidedBy, &decidedName, &a.DecidedAt, &a.DecisionNote,
		&a.TransactionID, &payerIn, &payeeIn)
	if err != nil {
		return a, err
	}
	a.Member, a.Points, a.Funder = deref(member), deref(points), deref(funder)
	a.Payer, a.Payee, a.Minor, a.BusinessDate = deref(payer), deref(payee), deref(minor), deref(date)
	a.PayerInstruction, a.PayeeInstruction = deref(payerIn), deref(payeeIn)
	if decidedBy != nil {
		a.DecidedBy = &Actor{ID: *decidedBy, Name: deref(decidedName)}
	}
	return a, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// moneyAdjustment is an approved money adjustment with a leg still to be
// carried by a payment instruction.
type moneyAdjustment struct {
	id                   uuid.UUID
	payer, payee         string
	minor                int64
	payerDone, payeeDone bool
}

// leg is what the adjustment adds to party's net (+ owed to the party),
// once: a party's leg is carried by one instruction.
func (a *moneyAdjustment) leg(party string) int64 {
	switch {
	case a.payer == party && !a.payerDone:
		a.payerDone = true
		return -a.minor
	case a.payee == party && !a.payeeDone:
		a.payeeDone = true
		return a.minor
	}
	return 0
}

func (a *moneyAdjustment) settled() bool { return a.payerDone && a.payeeDone }

func unclaimedAdjustments(ctx context.Context, tx pgx.Tx) ([]*moneyAdjustment, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, payer, payee, amount_minor, payer_instruction IS NOT NULL, payee_instruction IS NOT NULL
		FROM adjustments
		WHERE kind = 'money' AND status = 'approved'
		  AND ((payer_instruction IS NULL AND payer <> $1) OR (payee_instruction IS NULL AND payee <> $1))
		ORDER BY decided_at, id`, clearing.Operator)
	if err != nil {
		return nil, fmt.Errorf("money adjustments: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*moneyAdjustment, error) {
		a := &moneyAdjustment{}
		err := r.Scan(&a.id, &a.payer, &a.payee, &a.minor, &a.payerDone, &a.payeeDone)
		// The operator's leg is the hub's own: no instruction carries it.
		a.payerDone = a.payerDone || a.payer == clearing.Operator
		a.payeeDone = a.payeeDone || a.payee == clearing.Operator
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("money adjustments: %w", err)
	}
	return out, nil
}

// claimAdjustments records that instruction carries party's legs of the
// adjustments.
func claimAdjustments(ctx context.Context, tx pgx.Tx, party, instruction string, ids []uuid.UUID) error {
	_, err := tx.Exec(ctx, `
		UPDATE adjustments SET
		    payer_instruction = CASE WHEN payer = $1 AND payer_instruction IS NULL THEN $2 ELSE payer_instruction END,
		    payee_instruction = CASE WHEN payee = $1 AND payee_instruction IS NULL THEN $2 ELSE payee_instruction END
		WHERE id = ANY ($3)`, party, instruction, ids)
	if err != nil {
		return fmt.Errorf("claim adjustments for %s: %w", instruction, err)
	}
	return nil
}
