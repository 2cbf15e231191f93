package rpc_test

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestAccrueBatchAnswersEachLine: a day of receipts in one call, with a
// few bad lines among them: every good line posts once, each bad line gets
// Accrue's own refusal with its field, the balances are the good lines'
// points, and the same call again replays every answer.
func TestAccrueBatchAnswersEachLine(t *testing.T) {
	e := newEnv(t)
	members := []*pb.Member{e.enroll("cafe"), e.enroll("cafe"), e.enroll("cafe")}
	var lines []*pb.AccrueRequest
	for i := range 120 {
		k := e.key()
		ref := byID(members[i%3])
		if i%2 == 1 {
			ref = byCard(members[i%3].GetCardNumber())
		}
		lines = append(lines, &pb.AccrueRequest{IdempotencyKey: k, OrderId: k, Member: ref, Purchase: rub(int64(2_000 * (i + 1)))})
	}
	// Bad lines: an unknown card, a foreign currency, an order that earned
	// in line 0, and line 5 sent twice.
	lines[10].Member = byCard("4000000000000002")
	lines[20].Purchase = &pb.Money{Minor: 10_000, Currency: "EUR"}
	lines[30].OrderId = lines[0].GetOrderId()
	lines = append(lines, lines[5])
	want := map[int]struct {
		code  codes.Code
		field string
	}{10: {codes.NotFound, "member.card_number"}, 20: {codes.InvalidArgument, "purchase.currency"}, 30: {codes.AlreadyExists, "order_id"}}

	res, err := e.client.AccrueBatch(e.as("cafe"), &pb.AccrueBatchRequest{Accruals: lines})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetResults()) != len(lines) {
		t.Fatalf("%d results for %d lines", len(res.GetResults()), len(lines))
	}
	earned := map[string]int64{}
	for i, r := range res.GetResults() {
		if w, bad := want[i]; bad {
			le := r.GetError()
			if le == nil || le.GetCode() != codeName(w.code) || le.GetField() != w.field {
				t.Errorf("line %d: %v, want %s on %s", i, r, codeName(w.code), w.field)
			}
			continue
		}
		a := r.GetAccrued()
		if a == nil {
			t.Fatalf("line %d: %v, want it accrued", i, r.GetError())
		}
		// 5 % of the purchase at 1.00 a point: one point per 20.00.
		if wantPoints := lines[i].GetPurchase().GetMinor() / 2_000; a.GetPoints() != wantPoints {
			t.Errorf("line %d earned %d, want %d", i, a.GetPoints(), wantPoints)
		}
		if i < len(lines)-1 {
			earned[a.GetTransaction().GetMemberId()] += a.GetPoints()
		}
	}
	if got, first := res.GetResults()[len(lines)-1].GetAccrued(), res.GetResults()[5].GetAccrued(); got.GetTransaction().GetId() != first.GetTransaction().GetId() {
		t.Errorf("line 5 sent twice posted %s and %s", first.GetTransaction().GetId(), got.GetTransaction().GetId())
	}
	for _, m := range members {
		if b := e.balance(m); b.GetAvailable() != earned[m.GetId()] {
			t.Errorf("member %s: available %d, want %d", m.GetId(), b.GetAvailable(), earned[m.GetId()])
		}
	}

	before := e.written()
	again, err := e.client.AccrueBatch(e.as("cafe"), &pb.AccrueBatchRequest{Accruals: lines})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again.GetResults() {
		if a := r.GetAccrued(); a != nil && a.GetTransaction().GetId() != res.GetResults()[i].GetAccrued().GetTransaction().GetId() {
			t.Errorf("line %d replayed as %s, first %s", i, a.GetTransaction().GetId(), res.GetResults()[i].GetAccrued().GetTransaction().GetId())
		}
	}
	e.wantNothingWritten(before)
}

// TestAMalformedBatchPostsNothing: one malformed line fails the call with
// the line's field, and no line posts.
func TestAMalformedBatchPostsNothing(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("cafe")
	before := e.written()
	var lines []*pb.AccrueRequest
	for i := range 5 {
		lines = append(lines, &pb.AccrueRequest{IdempotencyKey: e.key(), OrderId: fmt.Sprint("o", i), Member: byID(m), Purchase: rub(10_000)})
	}
	lines[3].OrderId = ""
	_, err := e.client.AccrueBatch(e.as("cafe"), &pb.AccrueBatchRequest{Accruals: lines})
	wantStatus(t, err, codes.InvalidArgument, "accruals[3].order_id")
	_, err = e.client.AccrueBatch(e.as("cafe"), &pb.AccrueBatchRequest{})
	wantStatus(t, err, codes.InvalidArgument, "accruals")
	e.wantNothingWritten(before)
}

// codeName is a status code as LineError names it (google.rpc.Code).
func codeName(c codes.Code) string {
	switch c {
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	}
	return c.String()
}
