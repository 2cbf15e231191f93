package payments

import (
	"fmt"
	"time"
)

// Date is a calendar day with no time of day and no zone. Windows,
// execution dates, due dates and booking dates are days as a bank or a
// contract states them; carrying them as time.Time invites a zone to shift
// one into the day before.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is t's calendar day as it reads in t's own location: a window's
// date, held elsewhere as midnight UTC, is that day.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads a day written YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("want a date as YYYY-MM-DD, got %q", s)
	}
	return DateOf(t), nil
}

// String is the day as YYYY-MM-DD, the form of ISO 20022 and of the CSVs;
// the zero Date is the empty string, so an absent date stays absent.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

func (d Date) IsZero() bool { return d == Date{} }

// AddDays is the day n days after d (before, for negative n).
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC))
}

// DaysSince is the number of days from e to d: positive when d is later.
func (d Date) DaysSince(e Date) int { return d.days() - e.days() }

// Compare returns -1, 0 or +1 as d is before, the same as, or after e.
func (d Date) Compare(e Date) int {
	switch n := d.DaysSince(e); {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	p, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// valid reports a real calendar day (not 30 February).
func (d Date) valid() bool {
	return d.Month >= time.January && d.Month <= time.December && d.Day >= 1 &&
		DateOf(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC)) == d
}

// compact is the day as YYYYMMDD, for identifiers.
func (d Date) compact() string {
	return fmt.Sprintf("%04d%02d%02d", d.Year, int(d.Month), d.Day)
}

// days counts days from 1970-01-01 in the proleptic Gregorian calendar,
// in integers: time.Duration saturates beyond 292 years, and a zero Date
// (year 0) is further than that from any real one.
func (d Date) days() int {
	y, m := d.Year, int(d.Month)
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d.Day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
