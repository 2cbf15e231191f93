package apns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/wallet/apns"
)

const (
	teamID    = "ABCDE12345"
	keyID     = "KEY1234567"
	topic     = "pass.org.coalition.test"
	pushToken = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type push struct {
	proto  int
	method string
	path   string
	header http.Header
	body   string
}

// fakeAPNs is an HTTP/2 TLS server on loopback that records each push and
// answers with the status and body the test sets.
type fakeAPNs struct {
	srv *httptest.Server

	mu     sync.Mutex
	pushes []push
	status int
	reply  string
}

func newFakeAPNs(t *testing.T) *fakeAPNs {
	t.Helper()
	f := &fakeAPNs{status: http.StatusOK}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.pushes = append(f.pushes, push{r.ProtoMajor, r.Method, r.URL.Path, r.Header.Clone(), string(body)})
		w.Header().Set("apns-id", "5AF474C5-A212-42F3-9F99-70A9E587E1E2")
		w.WriteHeader(f.status)
		io.WriteString(w, f.reply)
	}))
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPNs) answer(status int, reply string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.reply = status, reply
}

func (f *fakeAPNs) last(t *testing.T) push {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pushes) == 0 {
		t.Fatal("no push arrived")
	}
	return f.pushes[len(f.pushes)-1]
}

func newClient(t *testing.T, f *fakeAPNs, c *clock.Manual) (*apns.Client, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	client, err := apns.New(apns.Config{
		BaseURL: f.srv.URL, HTTPClient: f.srv.Client(),
		TeamID: teamID, KeyID: keyID, Key: key, Topic: topic, Clock: c.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return client, key
}

// verifyProviderToken checks the JWT as APNs would: ES256 over
// header.claims with the team's public key, r||s of 32 bytes each.
func verifyProviderToken(t *testing.T, authorization string, pub *ecdsa.PublicKey) (header map[string]any, claims map[string]any) {
	t.Helper()
	token, ok := strings.CutPrefix(authorization, "bearer ")
	if !ok {
		t.Fatalf("authorization = %q, want a bearer token", authorization)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	enc := base64.RawURLEncoding
	decode := func(s string, v any) {
		b, err := enc.DecodeString(s)
		if err != nil {
			t.Fatalf("part is not unpadded base64url: %v", err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	decode(parts[0], &header)
	decode(parts[1], &claims)
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature is %d bytes (%v), want r||s of 64", len(sig), err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		t.Fatal("provider token signature does not verify with the auth key")
	}
	return header, claims
}

func TestNotifyPassUpdatedSendsAnEmptyBackgroundPushOverHTTP2(t *testing.T) {
	f := newFakeAPNs(t)
	c := clock.NewManual(start)
	client, key := newClient(t, f, c)
	if err := client.NotifyPassUpdated(context.Background(), pushToken); err != nil {
		t.Fatal(err)
	}
	p := f.last(t)
	if p.proto != 2 {
		t.Errorf("protocol HTTP/%d, want HTTP/2", p.proto)
	}
	if p.method != http.MethodPost || p.path != "/3/device/"+pushToken {
		t.Errorf("request = %s %s", p.method, p.path)
	}
	for name, want := range map[string]string{"apns-topic": topic, "apns-push-type": "background", "apns-priority": "5"} {
		if got := p.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if p.body != "{}" {
		t.Errorf("payload = %q, want {}", p.body)
	}
	header, claims := verifyProviderToken(t, p.header.Get("authorization"), &key.PublicKey)
	if header["alg"] != "ES256" || header["kid"] != keyID {
		t.Errorf("token header = %v", header)
	}
	if claims["iss"] != teamID || claims["iat"] != float64(start.Unix()) || len(claims) != 2 {
		t.Errorf("token claims = %v, want iss %s and iat %d only", claims, teamID, start.Unix())
	}
}

func TestProviderTokenIsReusedFor40MinutesThenReplaced(t *testing.T) {
	f := newFakeAPNs(t)
	c := clock.NewManual(start)
	client, key := newClient(t, f, c)
	send := func() string {
		t.Helper()
		if err := client.NotifyPassUpdated(context.Background(), pushToken); err != nil {
			t.Fatal(err)
		}
		return f.last(t).header.Get("authorization")
	}
	first := send()
	c.Advance(39*time.Minute + 59*time.Second)
	if send() != first {
		t.Fatal("token replaced before 40 minutes: APNs throttles frequent refreshes")
	}
	c.Advance(time.Second)
	second := send()
	if second == first {
		t.Fatal("token still reused at 40 minutes")
	}
	if _, claims := verifyProviderToken(t, second, &key.PublicKey); claims["iat"] != float64(start.Add(40*time.Minute).Unix()) {
		t.Errorf("new token iat = %v, want the clock's time", claims["iat"])
	}
}

func TestResponsesAreSortedByWhatTheCallerMustDo(t *testing.T) {
	f := newFakeAPNs(t)
	client, _ := newClient(t, f, clock.NewManual(start))
	for _, tc := range []struct {
		name   string
		status int
		reply  string
		check  func(t *testing.T, err error)
	}{
		{"410 means the device token is gone", 410, `{"reason":"Unregistered","timestamp":1767225600000}`, func(t *testing.T, err error) {
			var e *apns.UnregisteredError
			if !errors.As(err, &e) || e.Reason != "Unregistered" || !e.Since.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) || e.APNsID == "" {
				t.Fatalf("err = %#v, want UnregisteredError since 2026-01-01", err)
			}
		}},
		{"400 carries Apple's reason", 400, `{"reason":"BadDeviceToken"}`, func(t *testing.T, err error) {
			var e *apns.RejectedError
			if !errors.As(err, &e) || e.Status != 400 || e.Reason != "BadDeviceToken" {
				t.Fatalf("err = %#v, want RejectedError BadDeviceToken", err)
			}
		}},
		{"403 carries Apple's reason", 403, `{"reason":"TopicDisallowed"}`, func(t *testing.T, err error) {
			var e *apns.RejectedError
			if !errors.As(err, &e) || e.Status != 403 || e.Reason != "TopicDisallowed" {
				t.Fatalf("err = %#v, want RejectedError TopicDisallowed", err)
			}
		}},
		{"429 is retryable", 429, `{"reason":"TooManyRequests"}`, func(t *testing.T, err error) {
			var e *apns.RetryableError
			if !errors.As(err, &e) || e.Status != 429 || e.Reason != "TooManyRequests" {
				t.Fatalf("err = %#v, want RetryableError", err)
			}
		}},
		{"503 without a body is retryable", 503, ``, func(t *testing.T, err error) {
			var e *apns.RetryableError
			if !errors.As(err, &e) || e.Status != 503 {
				t.Fatalf("err = %#v, want RetryableError", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.answer(tc.status, tc.reply)
			tc.check(t, client.NotifyPassUpdated(context.Background(), pushToken))
		})
	}
}

func TestExpiredProviderTokenIsReplacedAtOnceAndRetryable(t *testing.T) {
	f := newFakeAPNs(t)
	c := clock.NewManual(start)
	client, _ := newClient(t, f, c)
	f.answer(403, `{"reason":"ExpiredProviderToken"}`)
	err := client.NotifyPassUpdated(context.Background(), pushToken)
	var e *apns.RetryableError
	if !errors.As(err, &e) || e.Reason != "ExpiredProviderToken" {
		t.Fatalf("err = %#v, want RetryableError", err)
	}
	stale := f.last(t).header.Get("authorization")
	c.Advance(time.Second) // a new token needs a new iat to differ
	f.answer(200, "")
	if err := client.NotifyPassUpdated(context.Background(), pushToken); err != nil {
		t.Fatal(err)
	}
	if f.last(t).header.Get("authorization") == stale {
		t.Fatal("the refused token was sent again")
	}
}

func TestNotifyPassUpdatedRefusesATokenThatIsNotHex(t *testing.T) {
	f := newFakeAPNs(t)
	client, _ := newClient(t, f, clock.NewManual(start))
	err := client.NotifyPassUpdated(context.Background(), "../../3/device/x")
	if e, ok := coalition.AsError(err); !ok || e.Code != coalition.Invalid {
		t.Fatalf("err = %v, want Invalid", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pushes) != 0 {
		t.Fatal("a request went out")
	}
}

func TestUnreachableAPNsIsRetryable(t *testing.T) {
	f := newFakeAPNs(t)
	client, _ := newClient(t, f, clock.NewManual(start))
	f.srv.Close()
	var e *apns.RetryableError
	if err := client.NotifyPassUpdated(context.Background(), pushToken); !errors.As(err, &e) || e.Err == nil {
		t.Fatalf("err = %#v, want RetryableError with the transport error", err)
	}
}

func TestParseKeyReadsAP8File(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := apns.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil || !got.Equal(key) {
		t.Fatalf("ParseKey = %v, %v", got, err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ = x509.MarshalPKCS8PrivateKey(p384)
	if _, err := apns.ParseKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err == nil {
		t.Fatal("accepted a P-384 key, which ES256 cannot use")
	}
}
