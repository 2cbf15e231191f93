package clock_test

import (
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
)

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
