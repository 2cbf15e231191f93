package analytics

import (
	"fmt"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
)

func TestAPartnersViewHidesSmallCellsOfOtherPartnersCustomers(t *testing.T) {
	p, a, b, c := partnerID(1), partnerID(2), partnerID(3), partnerID(4)
	cell := func(home, at coalition.PartnerID, n int64) Shoppers { return Shoppers{Home: home, At: at, Members: n} }
	hidden := func(home, at coalition.PartnerID) Shoppers { return Shoppers{Home: home, At: at, Suppressed: true} }
	for _, tc := range []struct {
		name  string
		cells []Shoppers
		want  []Shoppers
	}{
		{"cells of five or more members are shown",
			[]Shoppers{cell(p, p, 9), cell(a, p, 5), cell(p, a, 7)},
			[]Shoppers{cell(p, p, 9), cell(a, p, 5), cell(p, a, 7)}},
		{"the partner's own members buying there are shown however few",
			[]Shoppers{cell(p, p, 2), cell(a, p, 6), cell(b, p, 8)},
			[]Shoppers{cell(p, p, 2), cell(a, p, 6), cell(b, p, 8)}},
		{"its members elsewhere are hidden under five, each alone",
			[]Shoppers{cell(p, p, 9), cell(p, a, 4), cell(p, b, 1), cell(p, c, 6)},
			[]Shoppers{cell(p, p, 9), hidden(p, a), hidden(p, b), cell(p, c, 6)}},
		{"a small cell of buyers at the partner hides the smallest other one with it",
			[]Shoppers{cell(p, p, 12), cell(a, p, 3), cell(b, p, 7), cell(c, p, 9)},
			[]Shoppers{cell(p, p, 12), hidden(a, p), hidden(b, p), cell(c, p, 9)}},
		{"even the partner's own cell, if it is the smallest",
			[]Shoppers{cell(p, p, 5), cell(a, p, 1), cell(b, p, 7)},
			[]Shoppers{hidden(p, p), hidden(a, p), cell(b, p, 7)}},
		{"two small cells of buyers hide each other",
			[]Shoppers{cell(p, p, 12), cell(a, p, 3), cell(b, p, 4), cell(c, p, 9)},
			[]Shoppers{cell(p, p, 12), hidden(a, p), hidden(b, p), cell(c, p, 9)}},
		{"ties: the smallest other cell by the home's id",
			[]Shoppers{cell(a, p, 2), cell(c, p, 8), cell(b, p, 8)},
			[]Shoppers{hidden(a, p), cell(c, p, 8), hidden(b, p)}},
		{"the lone cell of buyers at the partner goes if small",
			[]Shoppers{cell(a, p, 3), cell(p, b, 6)},
			[]Shoppers{cell(p, b, 6)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Figures{Shoppers: tc.cells}
			suppress(p, &f)
			if got, want := fmt.Sprint(f.Shoppers), fmt.Sprint(tc.want); got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func partnerID(n byte) coalition.PartnerID { return coalition.PartnerID{15: n} }
