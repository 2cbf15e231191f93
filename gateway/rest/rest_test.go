package rest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/rest"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newAPI serves the gRPC API on loopback and the REST mirror in front of
// it, as coalitiond serves them without Vault, and returns the REST base
// URL.
func newAPI(t *testing.T) string {
	ctx := context.Background()
	srv := servertest.Start(t, server.Config{
		Pool:         pgtest.NewDB(t),
		HTTPAddr:     "127.0.0.1:0",
		DevAuth:      true,
		PhoneHashKey: servertest.PhoneHashKey,
		Settings:     ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
	})
	for _, code := range []string{"cafe", "cinema"} {
		if _, err := srv.Partners().Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: 500, PointsTTLDays: 365}); err != nil {
			t.Fatal(err)
		}
	}
	return "http://" + srv.HTTPAddr()
}

func call(t *testing.T, api string, method, path, partner, body string) (int, map[string]any, http.Header) {
	t.Helper()
	auth := ""
	if partner != "" {
		auth = "Dev " + partner
	}
	return callAuth(t, api, method, path, auth, body)
}

func callAuth(t *testing.T, api string, method, path, auth, body string) (int, map[string]any, http.Header) {
	t.Helper()
	return callWith(t, &http.Client{Timeout: 30 * time.Second}, api, method, path, auth, body)
}

func callWith(t *testing.T, client *http.Client, api string, method, path, auth, body string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, api+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return res.StatusCode, out, res.Header
}

func TestEarnAndSpendOverREST(t *testing.T) {
	api := newAPI(t)
	code, m, hdr := call(t, api, "POST", "/v1/partner/members", "cafe", `{"idempotency_key": "e1"}`)
	if code != 200 || hdr.Get(rest.RequestIDHeader) == "" {
		t.Fatalf("enroll = %d %v (request id %q)", code, m, hdr.Get(rest.RequestIDHeader))
	}
	card := m["member"].(map[string]any)["card_number"].(string)
	code, r, _ := call(t, api, "POST", "/v1/partner/accruals", "cafe",
		`{"idempotency_key": "a1", "member": {"card_number": "`+card+`"}, "purchase": {"minor": "100000", "currency": "RUB"}, "order_id": "1"}`)
	if code != 200 || r["points"] != "50" {
		t.Fatalf("accrue = %d %v", code, r)
	}
	code, r, _ = call(t, api, "POST", "/v1/partner/redemptions", "cinema",
		`{"idempotency_key": "r1", "member": {"card_number": "`+card+`"}, "points": "20", "order_id": "2"}`)
	if code != 200 {
		t.Fatalf("redeem = %d %v", code, r)
	}
	code, r, _ = call(t, api, "GET", "/v1/partner/balance?member.card_number="+card, "cinema", "")
	if code != 200 || r["balance"].(map[string]any)["available"] != "30" {
		t.Fatalf("balance = %d %v", code, r)
	}
}

// TestAccrueBatchOverREST: a till's upload of receipts as JSON, one answer
// per line, a refusal in its line.
func TestAccrueBatchOverREST(t *testing.T) {
	api := newAPI(t)
	_, m, _ := call(t, api, "POST", "/v1/partner/members", "cafe", `{"idempotency_key": "e1"}`)
	card := m["member"].(map[string]any)["card_number"].(string)
	line := func(key, order, minor string) string {
		return `{"idempotency_key": "` + key + `", "member": {"card_number": "` + card + `"}, "purchase": {"minor": "` + minor +
			`", "currency": "RUB"}, "order_id": "` + order + `"}`
	}
	code, r, _ := call(t, api, "POST", "/v1/partner/accruals:batch", "cafe",
		`{"accruals": [`+line("b1", "o1", "100000")+`, `+line("b2", "o1", "20000")+`, `+line("b3", "o3", "40000")+`]}`)
	if code != 200 {
		t.Fatalf("accrue batch = %d %v", code, r)
	}
	results := r["results"].([]any)
	first, second, third := results[0].(map[string]any), results[1].(map[string]any), results[2].(map[string]any)
	if first["accrued"].(map[string]any)["points"] != "50" || third["accrued"].(map[string]any)["points"] != "20" {
		t.Fatalf("results %v: want 50 and 20 points on lines 1 and 3", results)
	}
	if e, _ := second["error"].(map[string]any); e == nil || e["code"] != "ALREADY_EXISTS" || e["field"] != "order_id" {
		t.Fatalf("line 2 = %v, want ALREADY_EXISTS on order_id", second)
	}
	code, r, _ = call(t, api, "GET", "/v1/partner/balance?member.card_number="+card, "cafe", "")
	if code != 200 || r["balance"].(map[string]any)["available"] != "70" {
		t.Fatalf("balance = %d %v", code, r)
	}
}

func TestRESTErrorsCarryTheCodeAndTheField(t *testing.T) {
	api := newAPI(t)
	code, r, _ := call(t, api, "POST", "/v1/partner/redemptions", "cinema",
		`{"idempotency_key": "r1", "member": {"card_number": "7700000000000000"}, "points": "0", "order_id": "2"}`)
	if code != 400 || r["code"] != float64(3) {
		t.Fatalf("bad points = %d %v, want 400 with gRPC code 3", code, r)
	}
	details, _ := json.Marshal(r["details"])
	if !strings.Contains(string(details), `"field":"points"`) {
		t.Fatalf("details %s do not name the field", details)
	}
	code, r, _ = call(t, api, "GET", "/v1/partner/balance?member.card_number=7700000000000000", "", "")
	if code != 401 {
		t.Fatalf("no credentials = %d %v, want 401", code, r)
	}
	code, r, _ = call(t, api, "GET", "/v1/settlement/windows/2026-01-01/report", "cafe", "")
	if code != 403 {
		t.Fatalf("partner reading a full report = %d %v, want 403", code, r)
	}
	code, r, _ = call(t, api, "GET", "/openapi.json", "", "")
	if code != 200 || r["swagger"] != "2.0" {
		t.Fatalf("openapi = %d", code)
	}
}

// TestBankDetailsUnderFourEyesOverREST: finance operations are mirrored
// under /v1/finance, and the second person's rule holds there too.
func TestBankDetailsUnderFourEyesOverREST(t *testing.T) {
	api := newAPI(t)
	clerk, second := "Dev role=finance staff=clerk", "Dev role=finance staff=second"
	code, r, _ := callAuth(t, api, "POST", "/v1/finance/bank-accounts", clerk,
		`{"party": "cafe", "legal_name": "Cafe LLC", "iban": "DE89 3704 0044 0532 0130 00", "currency": "EUR", "payment_frequency": "PAYMENT_FREQUENCY_WEEKLY", "payment_days": 3}`)
	if code != 200 {
		t.Fatalf("propose = %d %v", code, r)
	}
	id := r["account"].(map[string]any)["id"].(string)
	code, r, _ = callAuth(t, api, "POST", "/v1/finance/bank-accounts/"+id+":decide", clerk, `{"confirm": true}`)
	if code != 403 {
		t.Fatalf("the proposer confirming = %d %v, want 403", code, r)
	}
	code, r, _ = callAuth(t, api, "POST", "/v1/finance/bank-accounts/"+id+":decide", second, `{"confirm": true}`)
	if code != 200 || r["account"].(map[string]any)["status"] != "confirmed" {
		t.Fatalf("the second person confirming = %d %v", code, r)
	}
	code, r, _ = callAuth(t, api, "GET", "/v1/finance/bank-accounts?party=cafe", clerk, "")
	accounts, _ := r["accounts"].([]any)
	if code != 200 || len(accounts) != 1 {
		t.Fatalf("list = %d %v", code, r)
	}
	if code, r, _ = call(t, api, "GET", "/v1/finance/bank-accounts", "cafe", ""); code != 403 {
		t.Fatalf("a partner reading banking details = %d %v, want 403", code, r)
	}
	code, r, _ = callAuth(t, api, "POST", "/v1/finance/bank-accounts", clerk,
		`{"party": "cafe", "legal_name": "Cafe LLC", "iban": "DE88370400440532013000", "currency": "EUR"}`)
	if details, _ := json.Marshal(r["details"]); code != 400 || !strings.Contains(string(details), `"field":"iban"`) {
		t.Fatalf("a bad IBAN = %d %v", code, r)
	}
}

// TestEveryServiceIsMirroredInREST: a service the server serves and REST
// does not mirror answers 404 to every path a client reads in its REST
// documentation.
func TestEveryServiceIsMirroredInREST(t *testing.T) {
	for _, name := range rpc.Services {
		if rest.Services[name] == nil {
			t.Errorf("%s is served over gRPC but not mirrored in REST", name)
		}
	}
	if len(rest.Services) != len(rpc.Services) {
		t.Errorf("REST mirrors %d services, the server serves %d", len(rest.Services), len(rpc.Services))
	}
}

// TestACouponOverREST: a partner makes a coupon offer and prints a
// single-use code over REST; a till presents it with an accrual, and the
// second presentation is refused, naming the field.
func TestACouponOverREST(t *testing.T) {
	api := newAPI(t)
	code, r, _ := call(t, api, "POST", "/v1/offers", "cafe",
		`{"offer": {"code": "SPRING", "name": "Spring coupon", "bonus_points": "25", "budget_points": "5000",
		  "starts": "2000-01-01T00:00:00Z", "ends": "2100-01-01T00:00:00Z"}}`)
	if code != 200 {
		t.Fatalf("create offer = %d %v", code, r)
	}
	code, r, _ = call(t, api, "POST", "/v1/offers/SPRING/coupons", "cafe", `{"request_key": "print-1", "count": 1, "max_uses": 1}`)
	coupons, _ := r["coupons"].([]any)
	if code != 200 || len(coupons) != 1 {
		t.Fatalf("issue coupons = %d %v", code, r)
	}
	coupon := coupons[0].(map[string]any)["code"].(string)
	code, m, _ := call(t, api, "POST", "/v1/partner/members", "cafe", `{"idempotency_key": "e1"}`)
	if code != 200 {
		t.Fatalf("enroll = %d %v", code, m)
	}
	card := m["member"].(map[string]any)["card_number"].(string)
	accrue := func(key string) (int, map[string]any) {
		code, r, _ := call(t, api, "POST", "/v1/partner/accruals", "cafe",
			`{"idempotency_key": "`+key+`", "member": {"card_number": "`+card+`"}, "purchase": {"minor": "100000", "currency": "RUB"},
			  "order_id": "`+key+`", "coupon_code": "`+coupon+`"}`)
		return code, r
	}
	code, r = accrue("a1")
	if code != 200 || r["points"] != "75" { // 50 of the base rate, 25 of the coupon
		t.Fatalf("accrue with the coupon = %d %v", code, r)
	}
	if lines, _ := json.Marshal(r["breakdown"]); !strings.Contains(string(lines), `"rule":"coupon"`) || !strings.Contains(string(lines), `"ref":"SPRING"`) {
		t.Fatalf("the breakdown %s does not name the coupon's offer", lines)
	}
	code, r = accrue("a2")
	details, _ := json.Marshal(r["details"])
	if code != 400 || r["code"] != float64(9) || !strings.Contains(string(details), `"field":"coupon_code"`) {
		t.Fatalf("the coupon presented again = %d %v, want 400 with FAILED_PRECONDITION on coupon_code", code, r)
	}
}
