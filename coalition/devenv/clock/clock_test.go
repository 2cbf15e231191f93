package clock_test

import (
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
)

func fired(ch <-chan time.Time) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestManualAfterFiresOnlyOnceTheClockHasMovedFarEnough(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := clock.NewManual(start)
	ch := c.After(time.Hour)
	if c.Waiting() != 1 {
		t.Fatalf("waiting = %d, want 1", c.Waiting())
	}
	c.Advance(59 * time.Minute)
	if fired(ch) {
		t.Fatal("fired a minute early")
	}
	c.Advance(time.Minute)
	select {
	case at := <-ch:
		if !at.Equal(start.Add(time.Hour)) {
			t.Fatalf("fired with %v, want %v", at, start.Add(time.Hour))
		}
	default:
		t.Fatal("did not fire on time")
	}
	if c.Waiting() != 0 {
		t.Fatalf("waiting = %d after firing, want 0", c.Waiting())
	}
	if !fired(c.After(0)) {
		t.Fatal("After(0) did not fire at once")
	}
	late := c.After(time.Minute)
	c.Set(start.Add(2 * time.Hour))
	if !fired(late) {
		t.Fatal("Set past the deadline did not fire")
	}
}

func TestOffsetRunsWithTheWallClockShiftedByWhatTheTestMoved(t *testing.T) {
	var c clock.Offset
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Fatalf("zero Offset is %v off the wall clock", d)
	}
	c.Advance(48 * time.Hour)
	if d := time.Until(c.Now()); d < 47*time.Hour || d > 49*time.Hour {
		t.Fatalf("after Advance(48h) the clock is %v ahead", d)
	}
	c.Advance(-48 * time.Hour)
	if d := time.Since(c.Now()); d < 0 || d > time.Minute {
		t.Fatalf("back from the future, %v off the wall clock", d)
	}
}
