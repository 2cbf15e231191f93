package finance

import "time"

// period is the payment period of a frequency that contains day: the day
// itself, its ISO week (Monday to Sunday) or its calendar month. Days are
// dates at midnight UTC, as the clearing's business dates are.
func period(f Frequency, day time.Time) (from, to time.Time) {
	switch f {
	case Weekly:
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		from = day.AddDate(0, 0, -back)
		return from, from.AddDate(0, 0, 6)
	case Monthly:
		from = time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
		return from, from.AddDate(0, 1, -1)
	default:
		return day, day
	}
}
