package coalition

import "testing"

func TestMulDivFloorRoundsDownWithoutOverflow(t *testing.T) {
	cases := []struct {
		name    string
		a, b, c int64
		want    int64
	}{
		{"exact", 100, 50, 10, 500},
		{"rounds down", 7, 1, 2, 3},
		{"never rounds up near one", 999_999, 1, 1_000_000, 0},
		{"product beyond int64", MaxAmount, MaxAmount, MaxAmount, MaxAmount},
		{"cashback 5 percent of 1000.00 at 1.00 per point", 100_000, 500, 10_000 * 100, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MulDivFloor(tc.a, tc.b, tc.c); got != tc.want {
				t.Fatalf("MulDivFloor(%d, %d, %d) = %d, want %d", tc.a, tc.b, tc.c, got, tc.want)
			}
		})
	}
}
