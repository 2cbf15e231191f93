package segments

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Definition is a rule segment: a member belongs when every condition set
// holds (a conjunction); at least one must be set. Purchase conditions read
// the look-back (LookBackDays up to the day computed); in a partner's
// segment, categories, lapse and RFM scores read the purchases at that
// partner, and partners visited read the whole coalition's.
type Definition struct {
	// Tiers: the member's tier is one of these codes.
	Tiers []string `json:"tiers,omitempty"`
	// Categories: the member bought in one of these categories.
	Categories []string `json:"categories,omitempty"`
	// VisitedPartners: the member bought at one of these partners (codes).
	VisitedPartners []string `json:"visited_partners,omitempty"`
	// MinPartnersVisited: the member bought at this many partners or more.
	MinPartnersVisited int `json:"min_partners_visited,omitempty"`
	// LapsedDays: the member bought within the look-back, but not in the
	// last LapsedDays days (the day computed included).
	LapsedDays int `json:"lapsed_days,omitempty"`
	// BirthdayMonth: the member gave a birth date in this month (1–12).
	BirthdayMonth int `json:"birthday_month,omitempty"`
	// Score ranges, each 1–5 inclusive; a member without a purchase in the
	// look-back has no scores and matches none.
	Recency   *ScoreRange `json:"recency,omitempty"`
	Frequency *ScoreRange `json:"frequency,omitempty"`
	Monetary  *ScoreRange `json:"monetary,omitempty"`
}

// ScoreRange is an inclusive range of RFM scores.
type ScoreRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// ReadsOtherPartners says whether the definition reads purchases at
// partners other than a partner segment's own (partners visited).
func (d Definition) ReadsOtherPartners() bool {
	return len(d.VisitedPartners) > 0 || d.MinPartnersVisited > 0
}

var (
	codeRE     = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)
	tierCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// maxList bounds each list condition: a segment is a rule, not a list of
// members.
const maxList = 50

// check validates the definition; field paths are under "definition".
// Partner codes are checked against the register in tx.
func (s *Segments) check(ctx context.Context, tx pgx.Tx, d Definition) error {
	if len(d.Tiers) == 0 && len(d.Categories) == 0 && len(d.VisitedPartners) == 0 && d.MinPartnersVisited == 0 &&
		d.LapsedDays == 0 && d.BirthdayMonth == 0 && d.Recency == nil && d.Frequency == nil && d.Monetary == nil {
		return coalition.Errorf(coalition.Invalid, "definition", "needs at least one condition")
	}
	if err := checkList("definition.tiers", d.Tiers, func(v string) string {
		if !tierCodeRE.MatchString(v) {
			return "is not a tier code"
		}
		return ""
	}); err != nil {
		return err
	}
	if len(d.Tiers) > 0 && s.tiers != nil {
		known, err := s.tiers(ctx)
		if err != nil {
			return fmt.Errorf("tiers in force: %w", err)
		}
		for i, t := range d.Tiers {
			if !slices.Contains(known, t) {
				return coalition.Errorf(coalition.Invalid, fmt.Sprintf("definition.tiers[%d]", i),
					"%q is not a tier of the rules in force", t)
			}
		}
	}
	if err := checkList("definition.categories", d.Categories, func(v string) string {
		if len(v) > 64 {
			return "must be at most 64 characters"
		}
		return ""
	}); err != nil {
		return err
	}
	if err := checkList("definition.visited_partners", d.VisitedPartners, func(v string) string {
		if !codeRE.MatchString(v) {
			return "is not a partner code"
		}
		return ""
	}); err != nil {
		return err
	}
	if len(d.VisitedPartners) > 0 {
		rows, err := tx.Query(ctx, `SELECT code FROM partners WHERE code = ANY($1)`, d.VisitedPartners)
		if err != nil {
			return fmt.Errorf("partners visited: %w", err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("partners visited: %w", err)
		}
		for i, c := range d.VisitedPartners {
			if !slices.Contains(found, c) {
				return coalition.Errorf(coalition.Invalid, fmt.Sprintf("definition.visited_partners[%d]", i),
					"no partner has the code %q", c)
			}
		}
	}
	if d.MinPartnersVisited < 0 || d.MinPartnersVisited > 1000 {
		return coalition.Errorf(coalition.Invalid, "definition.min_partners_visited", "must be between 1 and 1000, or 0 for no condition")
	}
	if d.LapsedDays < 0 || d.LapsedDays >= LookBackDays {
		return coalition.Errorf(coalition.Invalid, "definition.lapsed_days",
			"must be between 1 and %d (within the look-back of %d days), or 0 for no condition", LookBackDays-1, LookBackDays)
	}
	if d.BirthdayMonth < 0 || d.BirthdayMonth > 12 {
		return coalition.Errorf(coalition.Invalid, "definition.birthday_month", "must be a month, 1 to 12, or 0 for no condition")
	}
	for _, r := range []struct {
		field string
		r     *ScoreRange
	}{{"definition.recency", d.Recency}, {"definition.frequency", d.Frequency}, {"definition.monetary", d.Monetary}} {
		if r.r == nil {
			continue
		}
		if r.r.Min < 1 || r.r.Min > 5 {
			return coalition.Errorf(coalition.Invalid, r.field+".min", "must be a score, 1 to 5")
		}
		if r.r.Max < 1 || r.r.Max > 5 {
			return coalition.Errorf(coalition.Invalid, r.field+".max", "must be a score, 1 to 5")
		}
		if r.r.Min > r.r.Max {
			return coalition.Errorf(coalition.Invalid, r.field+".max", "must not be below min (%d)", r.r.Min)
		}
	}
	return nil
}

// checkList checks a list condition: not too long, no empty or repeated
// value, and each value by bad (which says what is wrong, or "").
func checkList(field string, vs []string, bad func(string) string) error {
	if len(vs) > maxList {
		return coalition.Errorf(coalition.Invalid, field, "must have at most %d values", maxList)
	}
	for i, v := range vs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if v == "" {
			return coalition.Errorf(coalition.Invalid, f, "must not be empty")
		}
		if slices.Contains(vs[:i], v) {
			return coalition.Errorf(coalition.Invalid, f, "%q is given twice", v)
		}
		if msg := bad(v); msg != "" {
			return coalition.Errorf(coalition.Invalid, f, "%s", msg)
		}
	}
	return nil
}
