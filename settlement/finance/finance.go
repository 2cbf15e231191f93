// Package finance is what the operator's finance staff do after clearing:
// keep the parties' banking details (confirmed by a second person), make
// the payment instructions of each partner's payment period from the
// stored reports, match the bank's statements against them, post
// corrections that one person proposes and another approves, and state
// the points liability at a month's end. Its money comes from the cleared
// reports and the ledger; it changes neither, except through the ledger's
// own postings.
package finance

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// Actor is the person behind a finance action: ID names the credential
// they used (stable; two actions by one person carry the same ID), Name is
// what that credential says of them, for people to read.
type Actor struct {
	ID   string
	Name string
}

// Granter posts an approved points adjustment in the approval's own
// transaction (package ledger's GrantIn), so that the approval and the
// posting commit together or not at all.
type Granter interface {
	GrantIn(ctx context.Context, tx pgx.Tx, g ledger.Grant) (ledger.Transaction, error)
}

// Config wires a Finance.
type Config struct {
	Tx       *txn.Runner
	Clock    func() time.Time // time.Now if nil
	Clearing *clearing.Clearing
	Ledger   Granter
}

// Finance is the finance operations of one coalition.
type Finance struct {
	tx       *txn.Runner
	now      func() time.Time
	clearing *clearing.Clearing
	ledger   Granter
}

func New(cfg Config) *Finance {
	f := &Finance{tx: cfg.Tx, now: cfg.Clock, clearing: cfg.Clearing, ledger: cfg.Ledger}
	if f.now == nil {
		f.now = time.Now
	}
	return f
}

// StaffID is the Actor.ID of the member of staff whose credentials were
// issued to name: the same for every credential of theirs (staff keys,
// their rotations, sessions, certificates), so that nobody counts as two
// people when a change takes two. The operator issues each person's
// credentials under one name of their own.
func StaffID(name string) string { return "staff:" + name }

// checkActor refuses an action nobody can be held to.
func checkActor(a Actor) error {
	if a.ID == "" {
		return coalition.Errorf(coalition.PermissionDenied, "", "finance actions need a named person: sign in with your own staff credential")
	}
	return nil
}

// PartnerCode is the code of a partner, for narrowing a partner's view to
// its own payments.
func (f *Finance) PartnerCode(ctx context.Context, id coalition.PartnerID) (string, error) {
	var code string
	err := f.tx.Pool().QueryRow(ctx, `SELECT code FROM partners WHERE id = $1`, id).Scan(&code)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", coalition.Errorf(coalition.NotFound, "party", "no partner %s", id)
	}
	return code, err
}

// Today is the coalition's calendar day now, as a business date.
func (f *Finance) Today(ctx context.Context) (time.Time, error) {
	loc, err := f.clearing.Zone(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return dayOf(f.now().In(loc)), nil
}
