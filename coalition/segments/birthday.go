package segments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Birthday is the birth date a member chose to give: month and day, and
// the year if they gave it (0 if not).
type Birthday struct {
	Month int
	Day   int
	Year  int
}

// IsZero says the member gave no birth date.
func (b Birthday) IsZero() bool { return b.Month == 0 }

// check validates a birth date given on today's date: a real day of the
// month (29 February only in a leap year, or with no year), and a year
// neither in the future nor before 1900.
func (b Birthday) check(today time.Time) error {
	if b.Month < 1 || b.Month > 12 {
		return coalition.Errorf(coalition.Invalid, "birth_month", "must be a month, 1 to 12")
	}
	if b.Year != 0 && (b.Year < 1900 || b.Year > today.Year()) {
		return coalition.Errorf(coalition.Invalid, "birth_year", "must be between 1900 and %d, or unset", today.Year())
	}
	year := b.Year
	if year == 0 {
		year = 2000 // a leap year: without a year, 29 February is a birthday
	}
	d := time.Date(year, time.Month(b.Month), b.Day, 0, 0, 0, 0, time.UTC)
	if b.Day < 1 || d.Day() != b.Day {
		return coalition.Errorf(coalition.Invalid, "birth_day", "is not a day of %s %d", time.Month(b.Month), year)
	}
	if b.Year != 0 && d.After(today) {
		return coalition.Errorf(coalition.Invalid, "birth_year", "the date is in the future")
	}
	return nil
}

// SetBirthday records the member's birth date; a zero Birthday forgets it.
// Setting the same date again changes nothing.
func (s *Segments) SetBirthday(ctx context.Context, member coalition.MemberID, b Birthday) error {
	now := s.clock()
	if !b.IsZero() {
		if err := b.check(now); err != nil {
			return err
		}
	} else if b.Day != 0 || b.Year != 0 {
		return coalition.Errorf(coalition.Invalid, "birth_month", "is required with a day or a year")
	}
	var month, dayOf, year *int
	if !b.IsZero() {
		month, dayOf = &b.Month, &b.Day
		if b.Year != 0 {
			year = &b.Year
		}
	}
	return s.tx.Run(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM members WHERE id = $1)`, member).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return coalition.Errorf(coalition.NotFound, "member", "no such member")
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO member_profiles (member_id, birth_month, birth_day, birth_year, updated_at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (member_id) DO UPDATE SET birth_month = excluded.birth_month, birth_day = excluded.birth_day,
			    birth_year = excluded.birth_year, updated_at = excluded.updated_at`, member, month, dayOf, year, now.UTC())
		if err != nil {
			return fmt.Errorf("set birthday: %w", err)
		}
		return nil
	})
}

// BirthdayOf reads the member's birth date (zero if none was given).
func (s *Segments) BirthdayOf(ctx context.Context, member coalition.MemberID) (Birthday, error) {
	var b Birthday
	err := s.tx.Read(ctx, func(tx pgx.Tx) error {
		var m, d, y *int
		err := tx.QueryRow(ctx, `SELECT birth_month, birth_day, birth_year FROM member_profiles WHERE member_id = $1`, member).Scan(&m, &d, &y)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if m != nil && d != nil {
			b.Month, b.Day = *m, *d
		}
		if y != nil {
			b.Year = *y
		}
		return nil
	})
	if err != nil {
		return Birthday{}, fmt.Errorf("birthday: %w", err)
	}
	return b, nil
}
