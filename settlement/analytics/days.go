package analytics

import (
	"fmt"
	"strings"
	"time"
)

// The day bitmaps of analytics_activity: a span of two calendar years of
// business days in twelve words of 61 bits. Span Y holds the days of years
// Y-1 and Y; day n of the span (0 = 1 January of Y-1) is bit n % 61 of
// word n / 61. 61 bits keep every word positive, so that the queries'
// x & (x - 1), which is nonzero when x has two bits or more, never
// overflows a BIGINT; 12 × 61 = 732 bits hold the 731 days of two years.
const (
	wordBits = 61
	words    = 12
)

// mask is one span's twelve words.
type mask [words]int64

// spanOf is the span a period ending on to is counted in: the year of to,
// whose span holds every period of up to 366 days that ends in it.
func spanOf(to time.Time) int { return to.Year() }

// spanStart is the first day of span y.
func spanStart(y int) time.Time { return date(y-1, time.January, 1) }

// dayOf is day d's number in span y (which must hold it): 0 to 730.
func dayOf(y int, d time.Time) int { return int(d.Sub(spanStart(y)).Hours() / 24) }

// dayMask is the single bit of day d in span y (which must hold it).
func dayMask(y int, d time.Time) mask {
	var m mask
	i := dayOf(y, d)
	m[i/wordBits] = 1 << (i % wordBits)
	return m
}

// spanMask has the bits of the days from from to to, both included, in
// span y (clipped to the span; none if the period misses it).
func spanMask(y int, from, to time.Time) mask {
	var m mask
	first, last := spanStart(y), date(y, time.December, 31)
	if from.Before(first) {
		from = first
	}
	if to.After(last) {
		to = last
	}
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		i := int(d.Sub(first).Hours() / 24)
		m[i/wordBits] |= 1 << (i % wordBits)
	}
	return m
}

// args are the mask's words as query arguments.
func (m mask) args() []any {
	out := make([]any, words)
	for i, w := range m {
		out[i] = w
	}
	return out
}

// wholeWord is a word with all its days.
const wholeWord = 1<<wordBits - 1

// period is a period's days in the words of its span, as SQL: the days
// it begins and ends on, and the words it touches, each whole (tested as
// it is) or masked; all are query arguments numbered from the first given
// ($first: its first day, $first+1: its last, then the masks). A row's
// tests read no word the period does not touch, and none at all for a row
// whose days all lie in the period.
type period struct {
	span  int
	words []int
	first int         // the argument of the first day
	param map[int]int // word → its mask's argument; none for a whole word
	args  []any
}

func newPeriod(from, to time.Time, first int) period {
	y := spanOf(to)
	if from.Before(spanStart(y)) {
		from = spanStart(y)
	}
	p := period{span: y, first: first, param: map[int]int{}, args: []any{dayOf(y, from), dayOf(y, to)}}
	for i, w := range spanMask(y, from, to) {
		if w == 0 {
			continue
		}
		p.words = append(p.words, i)
		if w != wholeWord {
			p.param[i] = first + len(p.args)
			p.args = append(p.args, w)
		}
	}
	return p
}

// days is the period's days in word i of the columns named col ("a.d":
// a.d0, a.d1, ...).
func (p period) days(col string, i int) string {
	if n, ok := p.param[i]; ok {
		return fmt.Sprintf("(%s%d & $%d::BIGINT)", col, i, n)
	}
	return fmt.Sprintf("%s%d", col, i)
}

func (p period) each(col, sep string, f func(days string) string) string {
	parts := make([]string, len(p.words))
	for k, i := range p.words {
		parts[k] = f(p.days(col, i))
	}
	return strings.Join(parts, sep)
}

// since: the row (a) has days neither all before the period nor all
// after it.
func (p period) since() string {
	return fmt.Sprintf("a.last_day >= $%d::SMALLINT AND a.first_day <= $%d::SMALLINT", p.first, p.first+1)
}

// within: every day of the row (a) lies in the period.
func (p period) within() string {
	return fmt.Sprintf("(a.first_day >= $%d::SMALLINT AND a.last_day <= $%d::SMALLINT)", p.first, p.first+1)
}

// anyDay: the row (a) has a day of the period.
func (p period) anyDay() string {
	return p.since() + " AND (" + p.within() + " OR (" + p.each("a.d", " | ", func(d string) string { return d }) + ") <> 0)"
}

// twoDays: the row (a), which has a day of the period, has two or more:
// counted if all its days lie in the period; else two words with a day of
// it, or a word with two (x & (x - 1) <> 0: x without its lowest bit).
func (p period) twoDays() string {
	return "CASE WHEN " + p.within() + " THEN a.days > 1 ELSE (" +
		p.each("a.d", " + ", func(d string) string { return "CASE WHEN " + d + " <> 0 THEN 1 ELSE 0 END" }) + ") > 1 OR " +
		p.each("a.d", " OR ", func(d string) string { return "(" + d + " & (" + d + " - 1)) <> 0" }) + " END"
}

// anyRepeatDay: the repeat days (r) have a day of the period.
func (p period) anyRepeatDay() string {
	return "(" + p.each("r.m", " | ", func(d string) string { return d }) + ") <> 0"
}

// each is the SQL fragment f(i) for each word i of a bitmap, joined by
// sep: the roll-up's statements spell out the twelve words through it.
func each(sep string, f func(i int) string) string {
	parts := make([]string, words)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, sep)
}

// param is placeholder $n, a BIGINT.
func param(n int) string { return fmt.Sprintf("$%d::BIGINT", n) }

func date(y int, mo time.Month, d int) time.Time { return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC) }

// day is t's calendar date at midnight UTC, the form business dates take.
func day(t time.Time) time.Time { return date(t.Year(), t.Month(), t.Day()) }

// month is the first day of d's month.
func month(d time.Time) time.Time { return date(d.Year(), d.Month(), 1) }
