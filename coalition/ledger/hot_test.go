package ledger_test

import (
	"testing"
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
