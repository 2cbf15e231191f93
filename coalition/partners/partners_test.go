package partners_test

import (
	"context"
	"errors"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestALiabilityLimitIsSetChangedAndLiftedOnAnExistingPartner(t *testing.T) {
	ctx := context.Background()
	runner, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: runner})
	if _, err := reg.Add(ctx, partners.Partner{Code: "cafe", Name: "Cafe", Kind: "café", EarnRateBP: 500, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	limitOf := func() *coalition.Points {
		t.Helper()
		p, err := reg.ByCode(ctx, "cafe")
		if err != nil {
			t.Fatal(err)
		}
		return p.LiabilityLimit
	}
	if l := limitOf(); l != nil {
		t.Fatalf("a new partner has limit %d, want none", *l)
	}
	for _, want := range []coalition.Points{1_000_000, 0} {
		if err := reg.SetLiabilityLimit(ctx, "cafe", &want); err != nil {
			t.Fatal(err)
		}
		if l := limitOf(); l == nil || *l != want {
			t.Fatalf("limit %v, want %d", l, want)
		}
	}
	if err := reg.SetLiabilityLimit(ctx, "cafe", nil); err != nil {
		t.Fatal(err)
	}
	if l := limitOf(); l != nil {
		t.Fatalf("limit %d after lifting it, want none", *l)
	}
}

func TestALiabilityLimitIsRefusedWhenNegativeOrForAnUnknownPartner(t *testing.T) {
	ctx := context.Background()
	runner, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: runner})
	if _, err := reg.Add(ctx, partners.Partner{Code: "cafe", Name: "Cafe", Kind: "café", EarnRateBP: 500, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	negative, some := coalition.Points(-1), coalition.Points(10)
	for _, tc := range []struct {
		code  string
		limit *coalition.Points
		want  coalition.Code
	}{
		{"cafe", &negative, coalition.Invalid},
		{"nobody", &some, coalition.NotFound},
		{"nobody", nil, coalition.NotFound},
	} {
		var ce *coalition.Error
		if err := reg.SetLiabilityLimit(ctx, tc.code, tc.limit); !errors.As(err, &ce) || ce.Code != tc.want {
			t.Errorf("SetLiabilityLimit(%s, %v) = %v, want %v", tc.code, tc.limit, err, tc.want)
		}
	}
}
