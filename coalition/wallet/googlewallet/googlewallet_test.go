package googlewallet_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
)

const (
	issuerID = "3388000000012345678"
	saEmail  = "wallet@coalition-test.iam.gserviceaccount.com"
	saKeyID  = "0123456789abcdef0123456789abcdef01234567"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func serviceAccount(t *testing.T) googlewallet.ServiceAccount {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return googlewallet.ServiceAccount{Email: saEmail, KeyID: saKeyID, Key: testKey}
}

var program = googlewallet.Program{
	IssuerID: issuerID, ClassSuffix: "coalition-rewards",
	IssuerName: "Coalition", ProgramName: "Coalition Rewards",
	LogoURL: "https://static.coalition.example/logo.png", BackgroundColor: "#16376e",
}

func sampleCard() googlewallet.Card {
	return googlewallet.Card{
		ObjectSuffix: "0190f3c2-7a4e-7c1d-9f00-0123456789ab",
		CardNumber:   "7700000000000008",
		MemberName:   "Ada L.",
		Balance:      1325,
		Tier:         "Gold",
		Partners:     []string{"Coffee Corner", "Fish & Chips Co"},
		Expiring: []googlewallet.Expiry{
			{Points: 40, On: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
			{Points: 120, On: time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC)},
		},
	}
}

// verifyRS256 parses a compact JWS and checks its RS256 signature with pub,
// as Google does, returning header and claims.
func verifyRS256(t *testing.T, token string, pub *rsa.PublicKey) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT has %d parts", len(parts))
	}
	enc := base64.RawURLEncoding
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := enc.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d is not unpadded base64url: %v", i, err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("RS256 signature does not verify: %v", err)
	}
	if header["alg"] != "RS256" || header["typ"] != "JWT" || header["kid"] != saKeyID {
		t.Errorf("header = %v", header)
	}
	return header, claims
}

func TestSaveLinkIsASignedJWTCarryingTheObject(t *testing.T) {
	sa := serviceAccount(t)
	obj, err := program.Object(sampleCard())
	if err != nil {
		t.Fatal(err)
	}
	link, err := googlewallet.SaveLink(sa, start, []string{"https://rewards.coalition.example"}, obj)
	if err != nil {
		t.Fatal(err)
	}
	token, ok := strings.CutPrefix(link, "https://pay.google.com/gp/v/save/")
	if !ok {
		t.Fatalf("link = %q", link)
	}
	_, claims := verifyRS256(t, token, &sa.Key.PublicKey)
	if claims["iss"] != saEmail || claims["aud"] != "google" || claims["typ"] != "savetowallet" || claims["iat"] != float64(start.Unix()) {
		t.Errorf("claims = %v", claims)
	}
	if !reflect.DeepEqual(claims["origins"], []any{"https://rewards.coalition.example"}) {
		t.Errorf("origins = %v", claims["origins"])
	}
	// Round-trip the payload through the package's own type, so every field
	// the object had arrives under the API's name.
	raw, _ := json.Marshal(claims["payload"])
	var payload struct {
		LoyaltyObjects []googlewallet.LoyaltyObject `json:"loyaltyObjects"`
	}
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	if len(payload.LoyaltyObjects) != 1 || !reflect.DeepEqual(payload.LoyaltyObjects[0], obj) {
		t.Fatalf("payload objects = %+v, want %+v", payload.LoyaltyObjects, obj)
	}
}

func TestObjectUsesWalletObjectsFieldNames(t *testing.T) {
	obj, err := program.Object(sampleCard())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(obj)
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"id":          issuerID + ".0190f3c2-7a4e-7c1d-9f00-0123456789ab",
		"classId":     issuerID + ".coalition-rewards",
		"state":       "ACTIVE",
		"accountId":   "7700000000000008",
		"accountName": "Ada L.",
		"loyaltyPoints": map[string]any{
			"label": "Points", "balance": map[string]any{"int": float64(1325)},
		},
		"secondaryLoyaltyPoints": map[string]any{
			"label": "Tier", "balance": map[string]any{"string": "Gold"},
		},
		"barcode": map[string]any{"type": "QR_CODE", "value": "7700000000000008", "alternateText": "7700000000000008"},
		"textModulesData": []any{
			map[string]any{"id": "partners", "header": "Earn and spend at", "body": "Coffee Corner\nFish & Chips Co"},
			map[string]any{"id": "expiring", "header": "Points expiring", "body": "120 points on 30 Jun 2026\n40 points on 31 Dec 2026"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		gotJSON, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("object JSON =\n%s", gotJSON)
	}

	class, err := program.Class()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = json.Marshal(class)
	var cls map[string]any
	_ = json.Unmarshal(raw, &cls)
	for _, k := range []string{"id", "issuerName", "programName", "programLogo", "hexBackgroundColor", "reviewStatus"} {
		if _, ok := cls[k]; !ok {
			t.Errorf("class JSON lacks %q: %s", k, raw)
		}
	}
	if uri := cls["programLogo"].(map[string]any)["sourceUri"].(map[string]any)["uri"]; uri != program.LogoURL {
		t.Errorf("programLogo.sourceUri.uri = %v", uri)
	}
}

func TestBalanceBeyondTheAPIsInt32GoesAsAString(t *testing.T) {
	c := sampleCard()
	c.Balance = coalition.Points(math.MaxInt32) + 1
	obj, err := program.Object(c)
	if err != nil {
		t.Fatal(err)
	}
	if b := obj.LoyaltyPoints.Balance; b.Int != nil || b.String != "2147483648" {
		t.Fatalf("balance = %+v", b)
	}
	c.Balance = 0
	obj, _ = program.Object(c)
	raw, _ := json.Marshal(obj.LoyaltyPoints)
	if string(raw) != `{"label":"Points","balance":{"int":0}}` {
		t.Fatalf("zero balance = %s; it must still be sent", raw)
	}
}

func TestResourceIDsHoldOnlyWhatGoogleAllows(t *testing.T) {
	for _, tc := range []struct {
		issuer, suffix string
		ok             bool
	}{
		{issuerID, "member-1_a.b", true},
		{issuerID, "has space", false},
		{issuerID, "slash/inside", false},
		{issuerID, "", false},
		{"not-numeric", "x", false},
	} {
		id, err := googlewallet.ResourceID(tc.issuer, tc.suffix)
		if (err == nil) != tc.ok {
			t.Errorf("ResourceID(%q, %q) = %q, %v", tc.issuer, tc.suffix, id, err)
		}
		if err != nil {
			if e, ok := coalition.AsError(err); !ok || e.Code != coalition.Invalid {
				t.Errorf("error %v is not Invalid", err)
			}
		}
	}
}

type call struct {
	method, path, auth string
	body               map[string]any
}

// fakeGoogle is one loopback server standing in for both the token
// endpoint and the walletobjects API.
type fakeGoogle struct {
	t   *testing.T
	srv *httptest.Server
	pub *rsa.PublicKey
	now func() time.Time

	mu          sync.Mutex
	grants      int
	calls       []call
	existingIDs map[string]bool
}

func newFakeGoogle(t *testing.T, pub *rsa.PublicKey, now func() time.Time) *fakeGoogle {
	f := &fakeGoogle{t: t, pub: pub, now: now, existingIDs: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGoogle) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/token" {
		f.grant(w, r)
		return
	}
	var body map[string]any
	if raw, _ := io.ReadAll(r.Body); len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			f.t.Errorf("%s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, ct)
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/walletobjects/v1")
	f.calls = append(f.calls, call{r.Method, path, r.Header.Get("Authorization"), body})
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && (path == "/loyaltyObject" || path == "/loyaltyClass"):
		id, _ := body["id"].(string)
		if f.existingIDs[id] {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, `{"error":{"code":409,"message":"Resource already exists: %s","status":"ALREADY_EXISTS"}}`, id)
			return
		}
		f.existingIDs[id] = true
		json.NewEncoder(w).Encode(body)
	case r.Method == http.MethodPatch:
		json.NewEncoder(w).Encode(body)
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/addMessage"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/loyaltyObject/"), "/addMessage")
		json.NewEncoder(w).Encode(map[string]any{"resource": map[string]any{"id": id, "messages": []any{body["message"]}}})
	case r.Method == http.MethodGet:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`)
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

// grant checks the JWT-bearer grant as Google's token endpoint does.
func (f *fakeGoogle) grant(w http.ResponseWriter, r *http.Request) {
	t := f.t
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Errorf("token request %s with %q", r.Method, r.Header.Get("Content-Type"))
	}
	if err := r.ParseForm(); err != nil {
		t.Error(err)
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		t.Errorf("grant_type = %q", g)
	}
	_, claims := verifyRS256(t, r.PostForm.Get("assertion"), f.pub)
	now := f.now().Unix()
	want := map[string]any{
		"iss": saEmail, "scope": "https://www.googleapis.com/auth/wallet_object.issuer",
		"aud": f.srv.URL + "/token", "iat": float64(now), "exp": float64(now + 3600),
	}
	if !reflect.DeepEqual(claims, want) {
		t.Errorf("assertion claims = %v, want %v", claims, want)
	}
	f.grants++
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"ya29.test-%d","expires_in":3599,"token_type":"Bearer"}`, f.grants)
}

func (f *fakeGoogle) snapshot() (int, []call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grants, append([]call(nil), f.calls...)
}

func newClient(t *testing.T) (*googlewallet.Client, *fakeGoogle, *clock.Manual) {
	t.Helper()
	sa := serviceAccount(t)
	c := clock.NewManual(start)
	f := newFakeGoogle(t, &sa.Key.PublicKey, c.Now)
	client, err := googlewallet.New(googlewallet.Config{
		BaseURL: f.srv.URL + "/walletobjects/v1", TokenURL: f.srv.URL + "/token",
		HTTPClient: f.srv.Client(), Account: sa, Clock: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return client, f, c
}

func TestUpsertInsertsThenPatchesWhenGoogleSaysItExists(t *testing.T) {
	client, f, _ := newClient(t)
	ctx := context.Background()
	class, _ := program.Class()
	obj, _ := program.Object(sampleCard())

	if _, err := client.UpsertClass(ctx, class); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UpsertObject(ctx, obj); err != nil {
		t.Fatal(err)
	}
	// The member saves again after a balance change: the insert meets 409.
	obj.LoyaltyPoints.Balance.Int = new(int32(1400))
	got, err := client.UpsertObject(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	if *got.LoyaltyPoints.Balance.Int != 1400 {
		t.Errorf("patched object balance = %+v", got.LoyaltyPoints.Balance)
	}

	grants, calls := f.snapshot()
	wantPaths := []string{
		"POST /loyaltyClass",
		"POST /loyaltyObject",
		"POST /loyaltyObject",
		"PATCH /loyaltyObject/" + obj.ID,
	}
	if len(calls) != len(wantPaths) {
		t.Fatalf("calls = %+v", calls)
	}
	for i, c := range calls {
		if c.method+" "+c.path != wantPaths[i] {
			t.Errorf("call %d = %s %s, want %s", i, c.method, c.path, wantPaths[i])
		}
		if c.auth != "Bearer ya29.test-1" {
			t.Errorf("call %d Authorization = %q", i, c.auth)
		}
	}
	if grants != 1 {
		t.Errorf("token grants = %d, want 1 (cached)", grants)
	}
	if calls[0].body["id"] != class.ID || calls[0].body["reviewStatus"] != "UNDER_REVIEW" || calls[0].body["programName"] != "Coalition Rewards" {
		t.Errorf("class body = %v", calls[0].body)
	}
	patch := calls[3].body
	if patch["id"] != obj.ID || patch["classId"] != class.ID || patch["state"] != "ACTIVE" ||
		!reflect.DeepEqual(patch["loyaltyPoints"], map[string]any{"label": "Points", "balance": map[string]any{"int": float64(1400)}}) {
		t.Errorf("patch body = %v", patch)
	}
}

func TestAddMessagePostsTheMessageUnderMessage(t *testing.T) {
	client, f, _ := newClient(t)
	obj, _ := program.Object(sampleCard())
	msg := googlewallet.Message{
		ID: "txn-0190f3c2", Header: "+75 points", Body: "Earned at Coffee Corner",
		MessageType: googlewallet.MessageTypeTextAndNotify,
	}
	got, err := client.AddMessage(context.Background(), obj.ID, msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != obj.ID || len(got.Messages) != 1 || got.Messages[0] != msg {
		t.Errorf("returned object = %+v", got)
	}
	_, calls := f.snapshot()
	if len(calls) != 1 || calls[0].method != http.MethodPost || calls[0].path != "/loyaltyObject/"+obj.ID+"/addMessage" {
		t.Fatalf("calls = %+v", calls)
	}
	want := map[string]any{"message": map[string]any{
		"id": "txn-0190f3c2", "header": "+75 points", "body": "Earned at Coffee Corner", "messageType": "TEXT_AND_NOTIFY",
	}}
	if !reflect.DeepEqual(calls[0].body, want) {
		t.Errorf("addMessage body = %v, want %v", calls[0].body, want)
	}
}

func TestAccessTokenIsCachedUntilShortlyBeforeItExpires(t *testing.T) {
	client, f, c := newClient(t)
	ctx := context.Background()
	get := func() {
		t.Helper()
		if _, err := client.GetObject(ctx, issuerID+".x"); !googlewallet.IsNotFound(err) {
			t.Fatalf("err = %v, want not found", err)
		}
	}
	get()
	c.Advance(57 * time.Minute) // 3599 s token, refreshed a minute early
	get()
	if grants, _ := f.snapshot(); grants != 1 {
		t.Fatalf("grants = %d after 57 min, want 1", grants)
	}
	c.Advance(2 * time.Minute)
	get()
	grants, calls := f.snapshot()
	if grants != 2 || calls[len(calls)-1].auth != "Bearer ya29.test-2" {
		t.Fatalf("grants = %d, last auth %q: want a new token near expiry", grants, calls[len(calls)-1].auth)
	}
}

func TestParseServiceAccountReadsGooglesKeyFile(t *testing.T) {
	sa := serviceAccount(t)
	der, err := x509.MarshalPKCS8PrivateKey(sa.Key)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := json.Marshal(map[string]string{
		"type": "service_account", "client_email": saEmail, "private_key_id": saKeyID,
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"token_uri":   "https://oauth2.googleapis.com/token",
	})
	got, err := googlewallet.ParseServiceAccount(file)
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != saEmail || got.KeyID != saKeyID || !got.Key.Equal(sa.Key) {
		t.Fatalf("parsed %q %q", got.Email, got.KeyID)
	}
	if _, err := googlewallet.ParseServiceAccount([]byte(`{"type":"authorized_user"}`)); err == nil {
		t.Fatal("accepted a key file that is not a service account's")
	}
}

func TestTokenEndpointRefusalIsReported(t *testing.T) {
	sa := serviceAccount(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
	}))
	defer srv.Close()
	client, err := googlewallet.New(googlewallet.Config{
		BaseURL: srv.URL, TokenURL: srv.URL + "/token", HTTPClient: srv.Client(), Account: sa,
		Clock: func() time.Time { return start },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetClass(context.Background(), issuerID+".x")
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("err = %v, want the grant refusal", err)
	}
}

// The QR code holds what the till scans from the member's phone; the card
// number is its text.
func TestObjectBarcodeHoldsTheGivenValue(t *testing.T) {
	c := sampleCard()
	c.BarcodeValue = "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4"
	o, err := program.Object(c)
	if err != nil {
		t.Fatal(err)
	}
	if o.Barcode.Value != c.BarcodeValue || o.Barcode.AlternateText != c.CardNumber {
		t.Errorf("barcode = %+v", o.Barcode)
	}
}
