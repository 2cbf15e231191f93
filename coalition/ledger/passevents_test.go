package ledger_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/passes"
)

// TestAPostingTellsTheMembersWalletPassInItsOwnTransaction: an earn and a
// spend of a member with a wallet pass leave an event each in the passes'
// outbox, with the words the pass shows, written with the posting (so a
// crash between them cannot lose one); a member without a pass leaves
// none.
func TestAPostingTellsTheMembersWalletPassInItsOwnTransaction(t *testing.T) {
	f := newFixtureWith(t, ledger.Config{PassEvents: true})
	holder, other := f.enroll(f.cafe), f.enroll(f.cafe)
	if _, err := f.pool.Exec(f.ctx, `INSERT INTO wallet_passes (member_id, serial_number, created_at, updated_at) VALUES ($1, 'serial-1', $2, $2)`,
		holder.ID, start); err != nil {
		t.Fatal(err)
	}
	earn := f.accrue(f.cafe, holder, 100_000) // 50 points
	f.accrue(f.cafe, other, 100_000)
	spend := f.redeem(f.cinema, holder, 20)
	rows, _ := f.pool.Query(f.ctx, `SELECT event_id::TEXT, kind, message FROM pass_outbox ORDER BY created_at, kind`)
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([3]string, error) {
		var e [3]string
		err := r.Scan(&e[0], &e[1], &e[2])
		return e, err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := [][3]string{
		{earn.Transaction.ID.String(), "earned", passes.EarnedMessage(50, "cafe")},
		{spend.ID.String(), "spent", passes.SpentMessage(20, "cinema")},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("outbox = %q\nwant     %q", got, want)
	}
}
