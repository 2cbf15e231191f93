package ledger_test

import (
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

// TestATakeFromALotTouchesNoIndex: a redemption that takes part of a lot
// changes only its remaining points, which no index of lots names (the
// partial indexes say is_open), so PostgreSQL updates the row in place
// of its page (a HOT update) and writes no index entry.
func TestATakeFromALotTouchesNoIndex(t *testing.T) {
	f := newFixture(t)
	var naming []string
	rows, err := f.pool.Query(f.ctx, `
		SELECT i.indexrelid::regclass::text
		FROM pg_index AS i
		JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attname = 'remaining'
		WHERE i.indrelid = 'lots'::regclass
		  AND (a.attnum = ANY(i.indkey)
		       OR COALESCE(pg_get_expr(i.indpred, i.indrelid), '') LIKE '%remaining%'
		       OR COALESCE(pg_get_expr(i.indexprs, i.indrelid), '') LIKE '%remaining%')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		naming = append(naming, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(naming) > 0 {
		t.Fatalf("indexes of lots that name remaining: %v", naming)
	}

	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // a lot of 50 points
	tx, err := f.pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(f.ctx)
	tag, err := tx.Exec(f.ctx, `UPDATE lots SET remaining = remaining - 20 WHERE member_id = $1`, m.ID)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("take 20 points: %v, %d rows", err, tag.RowsAffected())
	}
	var hot int64
	if err := tx.QueryRow(f.ctx, `SELECT pg_stat_get_xact_tuples_hot_updated('lots'::regclass)`).Scan(&hot); err != nil {
		t.Fatal(err)
	}
	if hot != 1 {
		t.Fatalf("%d HOT updates of lots in the transaction; want the take to be one", hot)
	}
}

// TestAPurseReadSkipsPendingLotsInTheIndex: a member's points still in
// their return window (a fuel chain's, pending 14 days) sort ahead of
// the spendable ones when they expire sooner. The batch's purse read
// takes the first spendable lots, and must pass over the pending ones on
// the index's entries (lots_member_open names spendable_from), not fetch
// each from the table to throw it away: a regular with two hundred
// pending lots made every purse read cost a millisecond (a fetch from a
// page of its own for each, in a table where members' lots interleave).
func TestAPurseReadSkipsPendingLotsInTheIndex(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	const pending = 300
	for range pending {
		f.accrue(f.fuel, m, 10_000) // 1 point each, pending for 14 days
	}
	f.clock.Advance(time.Hour) // the café's lot expires after the fuel lots
	f.accrue(f.cafe, m, 100_000)
	f.wantBalance(m, 50, pending, 0, 0)

	tx, err := f.pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(f.ctx)
	discarded, err := ledger.PurseReadDiscards(f.ctx, tx, m.ID, f.clock.Now(), ledger.DefaultPurseHead)
	if err != nil {
		t.Fatal(err)
	}
	if discarded > 0 {
		t.Fatalf("the purse read fetched %d lots it did not want, of a member with %d pending lots and one spendable lot", discarded, pending)
	}
}
