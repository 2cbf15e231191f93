package ledger_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
)

// TestARefusedRequestReplaysAsTheSameRefusal: a redeem refused for want of
// points, sent again under its key after the member earned enough, is
// refused the same way and spends nothing: the till was told the points
// were not spent. The same holds for a capture of a hold that does not
// exist. A different request under a refused key is a conflict.
func TestARefusedRequestReplaysAsTheSameRefusal(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_000) // 50 points
	req := ledger.Redemption{IdempotencyKey: "till-7", Member: ledger.MemberRef{ID: m.ID}, Points: 80, OrderID: "T-7"}
	_, err := f.l.Redeem(f.ctx, f.cinema.ID, req)
	wantError(t, err, coalition.FailedPrecondition, "points")
	first := err.Error()

	f.accrue(f.cafe, m, 200_000) // 100 more: enough now
	before := f.writes()
	_, err = f.l.Redeem(f.ctx, f.cinema.ID, req)
	wantError(t, err, coalition.FailedPrecondition, "points")
	if err.Error() != first {
		t.Fatalf("replayed refusal %q, first %q", err, first)
	}
	if after := f.writes(); after != before {
		t.Fatalf("a replayed refusal wrote rows: %s → %s", before, after)
	}
	f.wantBalance(m, 150, 0, 0, 0)

	// Another request under the refused key is a conflict.
	other := req
	other.Points = 10
	_, err = f.l.Redeem(f.ctx, f.cinema.ID, other)
	wantError(t, err, coalition.Conflict, "idempotency_key")

	// A capture of an unknown hold: not found, and so again later.
	cp := ledger.Capture{IdempotencyKey: "cap-1", HoldID: uuid.New()}
	_, err = f.l.Capture(f.ctx, f.cinema.ID, cp)
	wantError(t, err, coalition.NotFound, "hold_id")
	_, err = f.l.Capture(f.ctx, f.cinema.ID, cp)
	wantError(t, err, coalition.NotFound, "hold_id")

	// The same redeem under a new key spends the points.
	ok := ledger.Redemption{IdempotencyKey: "till-8", Member: ledger.MemberRef{ID: m.ID}, Points: 80, OrderID: "T-8"}
	if _, err := f.l.Redeem(f.ctx, f.cinema.ID, ok); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(m, 70, 0, 0, 0)
	f.checkClean()
}
