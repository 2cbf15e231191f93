package apikeys_test

import (
	"context"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/partners"
)

// A partner's staff credential names its partner, the coalition's staff
// name none; a partner's key is listed, rotated and revoked only through
// its own partner, and only within the roles asked for.
func TestPartnerKeysAreReachedOnlyThroughTheirPartner(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	runner, err := txn.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	s := apikeys.New(apikeys.Config{Tx: runner, Hasher: &countingHasher{}})
	var a, b coalition.PartnerID
	reg := partners.New(partners.Config{Tx: runner})
	for code, id := range map[string]*coalition.PartnerID{"cafe": &a, "cinema": &b} {
		p, err := reg.Add(ctx, partners.Partner{Code: code, Name: code, Kind: "shop", EarnRateBP: 100, PointsTTLDays: 365})
		if err != nil {
			t.Fatal(err)
		}
		*id = p.ID
	}
	for _, bad := range []struct {
		partner *coalition.PartnerID
		role    string
	}{{nil, "partner-admin"}, {&a, "operator"}, {&a, "finance"}, {nil, "partner"}, {&a, "root"}} {
		if _, _, err := s.Issue(ctx, bad.partner, bad.role, "x"); err == nil {
			t.Errorf("issued a %s key with partner %v", bad.role, bad.partner)
		}
	}
	admin, _, err := s.Issue(ctx, &a, apikeys.RolePartnerAdmin, "Ann")
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := s.Issue(ctx, &a, apikeys.RolePartner, "till")
	if err != nil {
		t.Fatal(err)
	}
	if ks, err := s.ListOf(ctx, b); err != nil || len(ks) != 0 {
		t.Fatalf("the cinema lists %v, %v", ks, err)
	}
	if ks, err := s.ListOf(ctx, a); err != nil || len(ks) != 2 {
		t.Fatalf("the café lists %v, %v", ks, err)
	}
	staff := apikeys.PartnerStaffRoles
	for name, err := range map[string]error{
		"revoke through another partner": s.RevokeOf(ctx, b, staff, admin.ID),
		"revoke a key as staff":          s.RevokeOf(ctx, a, staff, key.ID),
	} {
		if e, ok := coalition.AsError(err); !ok || e.Code != coalition.NotFound {
			t.Errorf("%s: %v, want not found", name, err)
		}
	}
	if _, _, err := s.RotateOf(ctx, b, []string{apikeys.RolePartner}, key.ID, time.Hour); err == nil {
		t.Error("rotated the café's key through the cinema")
	}
	if _, _, err := s.RotateOf(ctx, a, []string{apikeys.RolePartner}, admin.ID, time.Hour); err == nil {
		t.Error("rotated a staff credential as an API key")
	}
	if _, _, err := s.RotateOf(ctx, a, []string{apikeys.RolePartner}, key.ID, time.Hour); err != nil {
		t.Errorf("rotate the café's own key: %v", err)
	}
	if err := s.RevokeOf(ctx, a, staff, admin.ID); err != nil {
		t.Errorf("revoke the café's own admin: %v", err)
	}
}
