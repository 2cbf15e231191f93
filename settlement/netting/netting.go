// Package netting turns net positions into payment instructions: through a
// hub (every party settles with the operator's settlement account) or
// directly between parties with the fewest payments that settle every net.
package netting

import (
	"cmp"
	"fmt"
	"slices"
)

// Position is a party's net for a window: positive is owed to it, negative
// is owed by it, in minor units.
type Position struct {
	Party string
	Net   int64
}

// Payment moves Minor from one party to another.
type Payment struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Minor int64  `json:"amount_minor"`
}

// Hub settles every party with the hub: a party that owes pays the hub, a
// party that is owed is paid by it. Parties in order of name; the hub's own
// position is what the hub keeps.
func Hub(hub string, positions []Position) []Payment {
	var out []Payment
	for _, p := range sorted(positions) {
		switch {
		case p.Party == hub || p.Net == 0:
		case p.Net < 0:
			out = append(out, Payment{From: p.Party, To: hub, Minor: -p.Net})
		default:
			out = append(out, Payment{From: hub, To: p.Party, Minor: p.Net})
		}
	}
	return out
}

// exactLimit bounds the parties for which Direct searches for the fewest
// payments (the search is over subsets: 2^n). Beyond it, the greedy pairing
// gives at most n-1 payments.
const exactLimit = 16

// Direct settles the positions with the fewest payments. The minimum is the
// number of parties with a non-zero net less the largest number of groups
// into which they split with each group summing to zero: each group of k
// settles with k-1 payments, and no fewer. Positions must sum to zero.
func Direct(positions []Position) ([]Payment, error) {
	var parties []Position
	var sum int64
	for _, p := range sorted(positions) {
		sum += p.Net
		if p.Net != 0 {
			parties = append(parties, p)
		}
	}
	if sum != 0 {
		return nil, fmt.Errorf("netting: positions sum to %d, not zero", sum)
	}
	if len(parties) > exactLimit {
		return settleGroup(parties), nil
	}
	var out []Payment
	for _, g := range zeroSumGroups(parties) {
		out = append(out, settleGroup(g)...)
	}
	return out, nil
}

// zeroSumGroups splits parties into the most groups that each sum to zero,
// by dynamic programming over subsets. Ties are broken by the lowest subset
// index, so the split is deterministic.
func zeroSumGroups(parties []Position) [][]Position {
	n := len(parties)
	full := 1<<n - 1
	sums := make([]int64, full+1)
	for mask := 1; mask <= full; mask++ {
		low := mask & -mask
		i := bitIndex(low)
		sums[mask] = sums[mask^low] + parties[i].Net
	}
	// best[mask]: most zero-sum groups a zero-sum mask splits into.
	best := make([]int8, full+1)
	for mask := 1; mask <= full; mask++ {
		if sums[mask] != 0 {
			continue
		}
		best[mask] = 1
		// Split off a zero-sum proper subset holding mask's lowest party.
		low := mask & -mask
		rest := mask ^ low
		for sub := rest; sub > 0; sub = (sub - 1) & rest {
			part := sub | low
			if part != mask && sums[part] == 0 && best[mask^part]+1 > best[mask] {
				best[mask] = best[mask^part] + 1
			}
		}
	}
	var groups [][]Position
	mask := full
	for mask != 0 {
		low := mask & -mask
		rest := mask ^ low
		chosen := mask
		for sub := rest; sub > 0; sub = (sub - 1) & rest {
			part := sub | low
			if part != mask && sums[part] == 0 && best[mask^part]+1 == best[mask] && best[part] == 1 {
				chosen = part
				break
			}
		}
		var g []Position
		for i := range n {
			if chosen&(1<<i) != 0 {
				g = append(g, parties[i])
			}
		}
		groups = append(groups, g)
		mask ^= chosen
	}
	return groups
}

func bitIndex(b int) int {
	i := 0
	for b > 1 {
		b >>= 1
		i++
	}
	return i
}

// settleGroup settles a zero-sum group with len-1 payments at most: the
// largest debtor pays the largest creditor as much as it can, repeatedly.
func settleGroup(g []Position) []Payment {
	var debtors, creditors []Position
	for _, p := range g {
		if p.Net < 0 {
			debtors = append(debtors, Position{p.Party, -p.Net})
		} else if p.Net > 0 {
			creditors = append(creditors, p)
		}
	}
	var out []Payment
	for len(debtors) > 0 && len(creditors) > 0 {
		byAmount := func(a, b Position) int {
			if c := cmp.Compare(b.Net, a.Net); c != 0 {
				return c
			}
			return cmp.Compare(a.Party, b.Party)
		}
		slices.SortFunc(debtors, byAmount)
		slices.SortFunc(creditors, byAmount)
		d, c := &debtors[0], &creditors[0]
		n := min(d.Net, c.Net)
		out = append(out, Payment{From: d.Party, To: c.Party, Minor: n})
		d.Net -= n
		c.Net -= n
		if d.Net == 0 {
			debtors = debtors[1:]
		}
		if c.Net == 0 {
			creditors = creditors[1:]
		}
	}
	return out
}

func sorted(ps []Position) []Position {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b Position) int { return cmp.Compare(a.Party, b.Party) })
	return out
}
