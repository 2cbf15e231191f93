package segments_test

import (
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/segments"
)

// TestBadDefinitionsAreRefusedNamingTheFieldAndWriteNothing defines
// segments with each condition wrong in turn.
func TestBadDefinitionsAreRefusedNamingTheFieldAndWriteNothing(t *testing.T) {
	w := newWorld(t, date(2025, 3, 3))
	cases := []struct {
		name, code, title string
		def               segments.Definition
		field             string
	}{
		{"no condition", "empty", "Empty", segments.Definition{}, "definition"},
		{"a bad code", "Bad Code", "X", segments.Definition{LapsedDays: 5}, "code"},
		{"no name", "no-name", " ", segments.Definition{LapsedDays: 5}, "name"},
		{"an unknown tier", "seg-t", "T", segments.Definition{Tiers: []string{"gold", "platinum"}}, "definition.tiers[1]"},
		{"a tier twice", "seg-tt", "T", segments.Definition{Tiers: []string{"gold", "gold"}}, "definition.tiers[1]"},
		{"an empty category", "seg-c", "C", segments.Definition{Categories: []string{""}}, "definition.categories[0]"},
		{"an unknown partner", "seg-p", "P", segments.Definition{VisitedPartners: []string{"cafe", "bakery"}}, "definition.visited_partners[1]"},
		{"negative partners visited", "seg-n", "N", segments.Definition{MinPartnersVisited: -1}, "definition.min_partners_visited"},
		{"a lapse beyond the look-back", "seg-l", "L", segments.Definition{LapsedDays: segments.LookBackDays}, "definition.lapsed_days"},
		{"month 13", "seg-b", "B", segments.Definition{BirthdayMonth: 13}, "definition.birthday_month"},
		{"a score of 6", "seg-r", "R", segments.Definition{Recency: &segments.ScoreRange{Min: 1, Max: 6}}, "definition.recency.max"},
		{"a score of 0", "seg-f", "F", segments.Definition{Frequency: &segments.ScoreRange{Min: 0, Max: 3}}, "definition.frequency.min"},
		{"a range upside down", "seg-m", "M", segments.Definition{Monetary: &segments.ScoreRange{Min: 4, Max: 2}}, "definition.monetary.max"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := w.seg.Define(w.ctx, segments.Coalition, c.code, c.title, c.def)
			if e, ok := coalition.AsError(err); !ok || e.Code != coalition.Invalid || e.Field != c.field {
				t.Fatalf("got %v, want Invalid on %s", err, c.field)
			}
		})
	}
	if list, err := w.seg.List(w.ctx, nil, false); err != nil || len(list) != 0 {
		t.Fatalf("refused definitions left segments: %+v, %v", list, err)
	}
}

// TestAPartnerSeesOnlyItsOwnSegments: partners' segments of the same code
// are two segments; each partner lists and retires only its own.
func TestAPartnerSeesOnlyItsOwnSegments(t *testing.T) {
	w := newWorld(t, date(2025, 3, 3))
	cafe, cinema := w.partner("cafe").ID, w.partner("cinema").ID
	def := segments.Definition{LapsedDays: 30}
	a, err := w.seg.Define(w.ctx, segments.PartnerScope(cafe), "lapsed", "Lapsed", def)
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.seg.Define(w.ctx, segments.PartnerScope(cinema), "lapsed", "Lapsed", def)
	if err != nil || a.ID == b.ID {
		t.Fatalf("the cinema's segment: %+v, %v", b, err)
	}
	scope := segments.PartnerScope(cafe)
	list, err := w.seg.List(w.ctx, &scope, true)
	if err != nil || len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("the cafe lists %+v, %v; want only its own", list, err)
	}
	if _, err := w.seg.Retire(w.ctx, segments.PartnerScope(cafe), "other"); err == nil {
		t.Fatal("retired a segment that does not exist")
	}
	if _, err := w.seg.Retire(w.ctx, segments.PartnerScope(cafe), "lapsed"); err != nil {
		t.Fatal(err)
	}
	scope = segments.PartnerScope(cinema)
	if list, _ := w.seg.List(w.ctx, &scope, true); len(list) != 1 || list[0].Retired {
		t.Fatalf("retiring the cafe's segment touched the cinema's: %+v", list)
	}
}

func TestBirthdaysAreRealDates(t *testing.T) {
	w := newWorld(t, date(2025, 3, 3))
	m := w.enroll(w.partner("cafe"))
	for _, c := range []struct {
		b     segments.Birthday
		field string
	}{
		{segments.Birthday{Month: 2, Day: 29}, ""},
		{segments.Birthday{Month: 2, Day: 29, Year: 2000}, ""},
		{segments.Birthday{Month: 2, Day: 29, Year: 2001}, "birth_day"},
		{segments.Birthday{Month: 4, Day: 31}, "birth_day"},
		{segments.Birthday{Month: 13, Day: 1}, "birth_month"},
		{segments.Birthday{Month: 1, Day: 1, Year: 1899}, "birth_year"},
		{segments.Birthday{Month: 12, Day: 1, Year: 2025}, "birth_year"}, // later this year: in the future
		{segments.Birthday{Day: 5}, "birth_month"},
		{segments.Birthday{}, ""}, // forgets it
	} {
		err := w.seg.SetBirthday(w.ctx, m, c.b)
		if c.field == "" {
			if err != nil {
				t.Fatalf("%+v: %v", c.b, err)
			}
			if got, err := w.seg.BirthdayOf(w.ctx, m); err != nil || got != c.b {
				t.Fatalf("%+v read back as %+v, %v", c.b, got, err)
			}
			continue
		}
		if e, ok := coalition.AsError(err); !ok || e.Code != coalition.Invalid || e.Field != c.field {
			t.Fatalf("%+v: %v, want Invalid on %s", c.b, err, c.field)
		}
	}
}
