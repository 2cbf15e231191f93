package ledger_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

// TestAGrantPaysTheMembersDebtFirstUnderTheLedgersLocks: an approved
// adjustment's points (GrantIn) are a bonus of their funder's that pays what
// the member owes before anything else, posted in the caller's transaction
// under the same locks as every posting (the fixture's protocol check).
func TestAGrantPaysTheMembersDebtFirstUnderTheLedgersLocks(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	earn := f.accrue(f.cafe, m, 100_000) // 50 points
	f.redeem(f.cinema, m, 50)
	full := rub(100_000)
	if _, err := f.l.Refund(f.ctx, f.cafe.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: earn.Transaction.ID, Purchase: &full}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, -50, 0, 0, 50) // what it owes counts against it

	var granted ledger.Transaction
	err := f.runner.Write(f.ctx, func(tx pgx.Tx) error {
		var err error
		granted, err = f.l.GrantIn(f.ctx, tx, ledger.Grant{Funder: "operator", Member: m.ID, Points: 80, Reason: "goodwill"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if granted.Kind != ledger.KindBonus || granted.Points != 80 {
		t.Fatalf("granted %+v", granted)
	}
	f.wantBalance(m, 30, 0, 0, 0)
	f.checkClean()

	for _, c := range []struct {
		name string
		g    ledger.Grant
		code coalition.Code
	}{
		{"no points", ledger.Grant{Funder: "cafe", Member: m.ID}, coalition.Invalid},
		{"an unknown funder", ledger.Grant{Funder: "nobody", Member: m.ID, Points: 1}, coalition.NotFound},
		{"an unknown member", ledger.Grant{Funder: "cafe", Member: coalition.NewMemberID(), Points: 1}, coalition.NotFound},
	} {
		err := f.runner.Write(f.ctx, func(tx pgx.Tx) error {
			_, err := f.l.GrantIn(f.ctx, tx, c.g)
			return err
		})
		if e, ok := coalition.AsError(err); !ok || e.Code != c.code {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	f.wantBalance(m, 30, 0, 0, 0)
}
