package rules

import (
	"context"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
)

func TestBaseRateEarnsRoundedDown(t *testing.T) {
	cases := []struct {
		name       string
		minor      int64
		rateBP     int64
		pointValue int64
		want       coalition.Points
	}{
		{"5% of 1000.00 RUB at 1 RUB a point", 100_000, 500, 100, 50},
		{"5% of 19.99 rounds 0.9995 points down to 0", 1_999, 500, 100, 0},
		{"5% of 20.00 is exactly one point", 2_000, 500, 100, 1},
		{"3% of 333.33 is 9.9999 points, so 9", 33_333, 300, 100, 9},
		{"zero rate earns nothing", 100_000, 0, 100, 0},
		{"a point worth 0.10 earns ten times as many", 100_000, 500, 10, 500},
		{"largest purchase does not overflow", coalition.MaxAmount, 10_000, 1, coalition.MaxAmount},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := BaseRate{}.Earn(context.Background(), Purchase{
				Amount: coalition.Money{Minor: tc.minor, Currency: "RUB"}, EarnRateBP: tc.rateBP, PointValueMinor: tc.pointValue,
			})
			if err != nil {
				t.Fatal(err)
			}
			if e.Total != tc.want || len(e.Lines) != 1 || e.Lines[0].Points != tc.want {
				t.Fatalf("earned %+v, want %d", e, tc.want)
			}
		})
	}
}
