package ledger

import (
	"slices"
	"testing"
	"testing/synctest"

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

// TestASecondBatchWaitsUntilItIsAsLargeAsTheOneInFlight: with no batch
// in flight the lane takes what queued at once; with one in flight, a
// second only once as many requests queued as it holds (or, if all that
// queued are its members', once it is answered); with two, none.
func TestASecondBatchWaitsUntilItIsAsLargeAsTheOneInFlight(t *testing.T) {
	card := func(n string) *request { return &request{a: Accrual{Member: MemberRef{CardNumber: n}}} }
	newLane := func() *lane {
		ln := &lane{busy: map[string]int{}}
		ln.wake.L = &ln.mu
		return ln
	}
	// take runs ln.take in a goroutine of the bubble; its batch arrives on
	// the channel.
	take := func(ln *lane) chan []*request {
		out := make(chan []*request, 1)
		go func() {
			ln.mu.Lock()
			defer ln.mu.Unlock()
			out <- ln.take(128)
		}()
		return out
	}
	waiting := func(t *testing.T, out chan []*request, why string) {
		t.Helper()
		synctest.Wait() // every goroutine of the bubble blocked: take waits, or has returned
		select {
		case batch := <-out:
			t.Fatalf("%s: took %d requests", why, len(batch))
		default:
		}
	}
	add := func(ln *lane, rs ...*request) {
		ln.mu.Lock()
		ln.queue = append(ln.queue, rs...)
		ln.wake.Signal()
		ln.mu.Unlock()
	}
	answer := func(ln *lane, batch []*request) {
		ln.mu.Lock()
		ln.answered(batch)
		ln.mu.Unlock()
	}

	t.Run("nothing in flight", func(t *testing.T) {
		ln := newLane()
		if batch := ln.take(128); batch != nil {
			t.Fatalf("an idle lane took %d requests", len(batch))
		}
		a := card("1")
		ln.queue = []*request{a}
		if batch := ln.take(128); !same(batch, []*request{a}) {
			t.Fatalf("took %v, want the one request queued", batch)
		}
	})

	t.Run("as large as the one in flight", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ln := newLane()
			first := []*request{card("1"), card("2"), card("3")}
			ln.started(first)
			a, b, c := card("4"), card("5"), card("6")
			ln.queue = []*request{a, b}
			out := take(ln)
			waiting(t, out, "two queued, three in flight")
			add(ln, c)
			if batch := <-out; !same(batch, []*request{a, b, c}) {
				t.Fatalf("took %v, want the three queued", batch)
			}
		})
	})

	t.Run("only the members in flight queued", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ln := newLane()
			first := []*request{card("1")}
			ln.started(first)
			a, b := card("1"), card("1")
			ln.queue = []*request{a, b}
			out := take(ln)
			waiting(t, out, "member 1 in flight")
			answer(ln, first)
			if batch := <-out; !same(batch, []*request{a, b}) {
				t.Fatalf("took %v, want member 1's two requests once answered", batch)
			}
		})
	})

	t.Run("two in flight", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ln := newLane()
			first, second := []*request{card("1")}, []*request{card("2")}
			ln.started(first)
			ln.started(second)
			queued := []*request{card("3"), card("4"), card("5")}
			ln.queue = slices.Clone(queued)
			out := take(ln)
			waiting(t, out, "two batches in flight")
			answer(ln, first)
			if batch := <-out; !same(batch, queued) {
				t.Fatalf("took %v, want the three queued once a batch was answered", batch)
			}
		})
	})
}
