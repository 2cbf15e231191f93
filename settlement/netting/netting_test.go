package netting

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func settles(t *testing.T, positions []Position, pays []Payment) {
	t.Helper()
	left := map[string]int64{}
	for _, p := range positions {
		left[p.Party] = p.Net
	}
	for _, p := range pays {
		if p.Minor <= 0 || p.From == p.To {
			t.Fatalf("bad payment %+v", p)
		}
		left[p.From] += p.Minor
		left[p.To] -= p.Minor
	}
	for party, n := range left {
		if n != 0 {
			t.Fatalf("%s left at %d after %v", party, n, pays)
		}
	}
}

func TestDirectUsesTheFewestPayments(t *testing.T) {
	cases := []struct {
		name      string
		positions []Position
		want      int
	}{
		{"nothing owed", []Position{{"a", 0}, {"b", 0}}, 0},
		{"one pays one", []Position{{"a", -5}, {"b", 5}}, 1},
		{"one pays two", []Position{{"a", -10}, {"b", 4}, {"c", 6}}, 2},
		// Two independent pairs: 2 payments, where a greedy pass over all
		// four (largest to largest) would take 3.
		{"two pairs hidden in four", []Position{{"a", -7}, {"b", -3}, {"c", 3}, {"d", 7}}, 2},
		{"no zero-sum split: n-1 payments", []Position{{"a", -6}, {"b", -5}, {"c", 4}, {"d", 7}}, 3},
		{"three zero-sum groups", []Position{{"a", -1}, {"b", 1}, {"c", -2}, {"d", 2}, {"e", -3}, {"f", 3}}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pays, err := Direct(tc.positions)
			if err != nil {
				t.Fatal(err)
			}
			settles(t, tc.positions, pays)
			if len(pays) != tc.want {
				t.Fatalf("%d payments %v, want %d", len(pays), pays, tc.want)
			}
		})
	}
}

func TestDirectRefusesPositionsThatDoNotSumToZero(t *testing.T) {
	if _, err := Direct([]Position{{"a", -5}, {"b", 4}}); err == nil {
		t.Fatal("accepted positions summing to -1")
	}
}

func TestDirectSettlesRandomPositionsDeterministically(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := 2 + rng.IntN(12)
		var ps []Position
		var sum int64
		for i := range n - 1 {
			v := rng.Int64N(2001) - 1000
			ps = append(ps, Position{string(rune('a' + i)), v})
			sum += v
		}
		ps = append(ps, Position{"z", -sum})
		pays, err := Direct(ps)
		if err != nil {
			t.Fatal(err)
		}
		settles(t, ps, pays)
		nonzero := 0
		for _, p := range ps {
			if p.Net != 0 {
				nonzero++
			}
		}
		if nonzero > 0 && len(pays) > nonzero-1 {
			t.Fatalf("%d payments for %d parties", len(pays), nonzero)
		}
		shuffled := slices.Clone(ps)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, _ := Direct(shuffled)
		if !slices.Equal(pays, again) {
			t.Fatalf("order of input changed the instructions: %v vs %v", pays, again)
		}
	}
}

func TestHubSettlesEveryPartyWithTheHub(t *testing.T) {
	ps := []Position{{"cinema", 700}, {"cafe", -1000}, {"operator", 300}, {"fuel", 0}}
	got := Hub("operator", ps)
	want := []Payment{{"cafe", "operator", 1000}, {"operator", "cinema", 700}}
	if !slices.Equal(got, want) {
		t.Fatalf("hub = %v, want %v", got, want)
	}
}
