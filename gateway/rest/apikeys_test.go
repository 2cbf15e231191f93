package rest_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
)

func TestRESTClientsUseAPIKeysHashedByVault(t *testing.T) {
	ctx := context.Background()
	vs, _, creds := servertest.Vault(t)
	// The server as coalitiond serves it with Vault, logged in with its
	// AppRole; the keys it checks are its own store's.
	srv := servertest.Start(t, server.Config{
		Pool:     pgtest.NewDB(t),
		HTTPAddr: "127.0.0.1:0",
		Vault:    server.VaultConfig{Addr: vs.Addr, RoleID: creds.RoleID, SecretID: creds.SecretID},
		TLSHosts: []string{"localhost", "127.0.0.1"},
		Settings: ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
	})
	reg := srv.Partners()
	cafe, err := reg.Add(ctx, partners.Partner{Code: "cafe", Name: "cafe", Kind: "cafe", EarnRateBP: 500, PointsTTLDays: 365})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Add(ctx, partners.Partner{Code: "cinema", Name: "cinema", Kind: "cinema", EarnRateBP: 300, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	keys := srv.APIKeys()
	// With Vault, REST is served over TLS with the server's certificate;
	// keys never cross the network in clear.
	api := "https://" + srv.HTTPAddr()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: srv.CAPool(), ServerName: "localhost"}}}
	callAuth := func(t *testing.T, api, method, path, auth, body string) (int, map[string]any, http.Header) {
		t.Helper()
		return callWith(t, client, api, method, path, auth, body)
	}
	if res, err := http.Get("http://" + srv.HTTPAddr() + "/openapi.json"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("the REST port answers plain HTTP with Vault configured")
		}
	}

	_, secret, err := keys.Issue(ctx, &cafe.ID, "partner", "till")
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(key string) string { return "Bearer " + key }
	// call() sends "Dev <x>"; API keys go as they are.
	code, m, _ := callAuth(t, api, "POST", "/v1/partner/members", bearer(secret), `{"idempotency_key": "e1"}`)
	if code != 200 || m["member"].(map[string]any)["home_partner_id"] != cafe.ID.String() {
		t.Fatalf("enroll with the café's key = %d %v", code, m)
	}
	// The key was stored only as Vault's HMAC of it.
	var stored []byte
	if err := srv.Pool().QueryRow(ctx, `SELECT hash FROM api_keys`).Scan(&stored); err != nil || string(stored) == secret || len(stored) == 0 {
		t.Fatalf("stored %q", stored)
	}
	var open time.Time
	if err := srv.Pool().QueryRow(ctx, `SELECT business_date FROM settlement_windows WHERE status = 'open'`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Clearing().Run(ctx, open); err != nil {
		t.Fatal(err)
	}
	day := open.Format(time.DateOnly)
	code, st, _ := callAuth(t, api, "GET", "/v1/settlement/windows/"+day+"/statements/cafe", bearer(secret), "")
	if code != 200 {
		t.Fatalf("the café's key reading its own statement = %d", code)
	}
	// A line's section and kind are enums, named in JSON, and the strings
	// of the CSV export.
	lines, _ := st["statement"].(map[string]any)["lines"].([]any)
	if len(lines) == 0 {
		t.Fatalf("the café's statement = %v", st)
	}
	if l := lines[0].(map[string]any); l["report_section"] != "REPORT_SECTION_NET" || l["line_kind"] != "LINE_KIND_NET" || l["section"] != "net" || l["kind"] != "net" {
		t.Fatalf("the café's first line = %v", l)
	}
	code, _, _ = callAuth(t, api, "GET", "/v1/settlement/windows/"+day+"/statements/cinema", bearer(secret), "")
	if code != 403 {
		t.Fatalf("the café's key reading the cinema's statement = %d, want 403", code)
	}
	code, _, _ = callAuth(t, api, "GET", "/v1/settlement/windows", bearer("ck_not-a-key"), "")
	if code != 401 {
		t.Fatalf("a made-up key = %d, want 401", code)
	}
	// Rotation: both keys work during the overlap; then the old is revoked.
	list, _ := keys.List(ctx)
	newKey, newSecret, err := keys.Rotate(ctx, list[0].ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, newSecret} {
		if code, _, _ := callAuth(t, api, "GET", "/v1/settlement/windows", bearer(s), ""); code != 200 {
			t.Fatalf("during the overlap a key got %d", code)
		}
	}
	if err := keys.Revoke(ctx, list[0].ID); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := callAuth(t, api, "GET", "/v1/settlement/windows", bearer(secret), ""); code != 401 {
		t.Fatalf("revoked key = %d, want 401", code)
	}
	if code, _, _ := callAuth(t, api, "GET", "/v1/settlement/windows", bearer(newSecret), ""); code != 200 {
		t.Fatalf("new key %s after revoking the old = %d", newKey.ID, code)
	}
	// A suspended partner's valid key opens nothing: neither its
	// statement nor the partner service.
	if err := reg.SetStatus(ctx, "cafe", "suspended"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/settlement/windows", "/v1/settlement/windows/" + day + "/statements/cafe"} {
		if code, m, _ := callAuth(t, api, "GET", path, bearer(newSecret), ""); code != 403 || !strings.Contains(fmt.Sprint(m["message"]), "suspended") {
			t.Fatalf("GET %s with a suspended partner's key = %d %v, want 403 suspended", path, code, m)
		}
	}
	if code, _, _ := callAuth(t, api, "POST", "/v1/partner/members", bearer(newSecret), `{"idempotency_key": "e2"}`); code != 403 {
		t.Fatalf("enroll with a suspended partner's key = %d, want 403", code)
	}
}
