package finance

import (
	"testing"
	"time"
)

func TestAPeriodIsTheDayTheISOWeekOrTheMonthOfItsDay(t *testing.T) {
	d := func(s string) time.Time { v, _ := time.Parse(time.DateOnly, s); return v }
	for _, c := range []struct {
		f        Frequency
		day      string
		from, to string
	}{
		{Daily, "2026-03-10", "2026-03-10", "2026-03-10"},
		{Weekly, "2026-03-10", "2026-03-09", "2026-03-15"}, // a Tuesday
		{Weekly, "2026-03-09", "2026-03-09", "2026-03-15"}, // the Monday
		{Weekly, "2026-03-15", "2026-03-09", "2026-03-15"}, // the Sunday
		{Weekly, "2026-12-31", "2026-12-28", "2027-01-03"}, // across the year
		{Monthly, "2026-02-14", "2026-02-01", "2026-02-28"},
		{Monthly, "2028-02-29", "2028-02-01", "2028-02-29"},
		{Monthly, "2026-12-31", "2026-12-01", "2026-12-31"},
	} {
		from, to := period(c.f, d(c.day))
		if got, want := from.Format(time.DateOnly)+".."+to.Format(time.DateOnly), c.from+".."+c.to; got != want {
			t.Errorf("%s period of %s = %s, want %s", c.f, c.day, got, want)
		}
	}
}
