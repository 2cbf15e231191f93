package analytics

import (
	"cmp"
	"slices"

	"github.com/coalition-loyalty/coalition/coalition"
)

// MinCell is the fewest members a figure about another partner's
// customers must count for a partner to see it: a cell of 1 to 4 members
// could point at people the partner knows. The operator sees every cell.
const MinCell = 5

// suppress hides, in partner's view, the cross-shopping cells that count
// fewer than MinCell members (but not none) of another partner's
// customers: every cell but the partner's own members buying at the
// partner.
//
// The cells of members who bought at the partner, by home partner, add
// up to its active members, which the view shows; so a cell hidden alone
// among them could be worked out by subtraction. While exactly one of
// them is hidden, the smallest one shown is hidden too (ties by home
// partner's id). If it is the only cell (every buyer at the partner is of
// one other partner), there is none to hide with it, and the cell goes:
// the view then says no more than that the buyers enrolled elsewhere. The
// cells of its members elsewhere add up to nothing the view shows (a
// member may buy at several partners).
func suppress(partner coalition.PartnerID, f *Figures) {
	var inbound []int
	hidden := 0
	for i := range f.Shoppers {
		c := &f.Shoppers[i]
		own := c.Home == partner && c.At == partner
		if !own && c.Members > 0 && c.Members < MinCell {
			c.Members, c.Suppressed = 0, true
		}
		if c.At == partner {
			inbound = append(inbound, i)
			if c.Suppressed {
				hidden++
			}
		}
	}
	if hidden != 1 {
		return
	}
	shown := slices.DeleteFunc(slices.Clone(inbound), func(i int) bool { return f.Shoppers[i].Suppressed })
	if len(shown) == 0 {
		f.Shoppers = slices.DeleteFunc(f.Shoppers, func(c Shoppers) bool { return c.At == partner })
		return
	}
	smallest := slices.MinFunc(shown, func(i, j int) int {
		a, b := f.Shoppers[i], f.Shoppers[j]
		return cmp.Or(cmp.Compare(a.Members, b.Members), slices.Compare(a.Home[:], b.Home[:]))
	})
	f.Shoppers[smallest].Members, f.Shoppers[smallest].Suppressed = 0, true
}
