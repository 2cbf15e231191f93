package ledger

import (
	"testing"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
)

// TestTheNextBatchLeavesAMemberInFlightQueued: with a batch in flight for
// one member, the next batch takes the other members' requests and
// leaves that member's queued, in order, with the requests after them
// that name no member the lane can tell; a capture (which names its hold)
// goes; with room for two, the rest waits its turn.
func TestTheNextBatchLeavesAMemberInFlightQueued(t *testing.T) {
	card := func(n string) *request { return &request{a: Accrual{Member: MemberRef{CardNumber: n}}} }
	phone := &request{a: Accrual{Member: MemberRef{Phone: "+70000000000"}}}
	capture := &request{capture: &Capture{HoldID: uuid.New()}}
	busy1, other, busy2, byID := card("1"), card("2"), card("1"), &request{a: Accrual{Member: MemberRef{ID: coalition.MemberID(uuid.New())}}}
	ln := &lane{busy: map[string]int{}}
	ln.mark([]*request{card("1")}, 1) // member 1 in flight

	ln.queue = []*request{busy1, other, phone, capture, busy2, byID}
	batch := ln.next(128)
	if want := []*request{other, capture, byID}; !same(batch, want) {
		t.Fatalf("next batch %v, want %v", batch, want)
	}
	if want := []*request{busy1, phone, busy2}; !same(ln.queue, want) {
		t.Fatalf("left queued %v, want %v", ln.queue, want)
	}

	// Once member 1 is answered, its requests go, in order, with the
	// phone's between them; the cap leaves the last one queued.
	ln.mark([]*request{card("1")}, -1)
	if batch := ln.next(2); !same(batch, []*request{busy1, phone}) || !same(ln.queue, []*request{busy2}) {
		t.Fatalf("next batch %v, queued %v", batch, ln.queue)
	}
}

func same(a, b []*request) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
