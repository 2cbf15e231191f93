package clearing

import (
	"testing"
	"time"
)

func TestBusinessDatesReadAsTypedInTheCoalitionsZone(t *testing.T) {
	moscow, err := time.LoadLocation("Europe/Moscow") // UTC+3
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	// 22:30 UTC on 9 March is already 10 March in Moscow.
	lateUTC := time.Date(2026, 3, 9, 22, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		now  time.Time
		loc  *time.Location
		want string
	}{
		{"2026-02-28", lateUTC, moscow, "2026-02-28"},
		{"today", lateUTC, moscow, "2026-03-10"},
		{"yesterday", lateUTC, moscow, "2026-03-09"},
		{"today", lateUTC, time.UTC, "2026-03-09"},
		{"Yesterday", lateUTC, time.UTC, "2026-03-08"},
		// Yesterday across a month's and a year's end.
		{"yesterday", time.Date(2026, 3, 1, 0, 30, 0, 0, moscow), moscow, "2026-02-28"},
		{"yesterday", time.Date(2027, 1, 1, 1, 0, 0, 0, moscow), moscow, "2026-12-31"},
	} {
		got, err := ParseBusinessDate(c.in, c.now, c.loc)
		if err != nil {
			t.Errorf("%q at %s in %s: %v", c.in, c.now, c.loc, err)
			continue
		}
		if got.Format(time.DateOnly) != c.want || got.Location() != time.UTC || got.Hour() != 0 {
			t.Errorf("%q at %s in %s = %s, want %s at midnight UTC", c.in, c.now, c.loc, got, c.want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "2026-13-01", "09.03.2026"} {
		if _, err := ParseBusinessDate(bad, lateUTC, moscow); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
