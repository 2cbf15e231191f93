package analytics

import (
	"testing"
	"time"
)

func TestADayIsOneBitOfTwelveWordsOf61InEachOfItsTwoSpans(t *testing.T) {
	for _, c := range []struct {
		span int
		day  time.Time
		word int
		bit  int64
	}{
		{2026, date(2025, time.January, 1), 0, 1},
		{2025, date(2025, time.January, 1), 6, 1},          // day 366 of span 2025: 2024 had 366
		{2026, date(2025, time.March, 2), 0, 1 << 60},      // day 60
		{2026, date(2025, time.March, 3), 1, 1},            // day 61
		{2026, date(2026, time.December, 31), 11, 1 << 58}, // day 729
		{2025, date(2025, time.December, 31), 11, 1 << 59}, // day 730, the last a span may have
	} {
		m := dayMask(c.span, c.day)
		for i, w := range m {
			want := int64(0)
			if i == c.word {
				want = c.bit
			}
			if w != want {
				t.Errorf("%s in span %d: word %d = %#x, want %#x", c.day.Format(time.DateOnly), c.span, i, w, want)
			}
		}
	}
}

func TestAPeriodsMaskIsItsDaysWithinTheSpan(t *testing.T) {
	count := func(m mask) (n int) {
		for _, w := range m {
			if w < 0 || w >= 1<<wordBits {
				t.Fatalf("word %#x has a bit beyond the 61", w)
			}
			for ; w != 0; w &= w - 1 {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		span     int
		from, to time.Time
		days     int
	}{
		{2026, date(2025, time.December, 15), date(2026, time.January, 3), 20},
		{2026, date(2025, time.July, 1), date(2026, time.June, 30), 365},
		{2025, date(2024, time.January, 1), date(2024, time.December, 31), 366},
		{2025, date(2023, time.June, 1), date(2026, time.June, 1), 731},
		{2027, date(2025, time.December, 15), date(2025, time.December, 31), 0},
		{2026, date(2025, time.March, 1), date(2025, time.March, 3), 3}, // across words 0 and 1
	} {
		m := spanMask(c.span, c.from, c.to)
		if n := count(m); n != c.days {
			t.Errorf("span %d of %s..%s: %d days, want %d", c.span, c.from.Format(time.DateOnly), c.to.Format(time.DateOnly), n, c.days)
		}
		for d := c.from; !d.After(c.to); d = d.AddDate(0, 0, 1) {
			if d.Year() != c.span && d.Year() != c.span-1 {
				continue // not in the span
			}
			in, hit := dayMask(c.span, d), false
			for i := range in {
				hit = hit || m[i]&in[i] != 0
			}
			if !hit {
				t.Errorf("span %d of %s..%s: day %s is not in the mask", c.span, c.from.Format(time.DateOnly), c.to.Format(time.DateOnly),
					d.Format(time.DateOnly))
			}
		}
	}
}

func TestAPeriodOfAYearLiesInTheSpanOfItsLastDay(t *testing.T) {
	for to := date(2023, time.January, 1); to.Before(date(2029, time.January, 1)); to = to.AddDate(0, 0, 1) {
		from := to.AddDate(0, 0, 1-MaxPeriod)
		if y := spanOf(to); from.Before(spanStart(y)) {
			t.Fatalf("%s..%s starts before span %d", from.Format(time.DateOnly), to.Format(time.DateOnly), y)
		}
	}
}
