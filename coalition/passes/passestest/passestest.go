// Package passestest has stand-ins, on loopback, for the two services the
// wallet passes talk to: Apple's push service (HTTP/2 over TLS, checking
// the provider token) and Google's Wallet API with its token endpoint
// (keeping objects, and messages by id as Google does, so that a message
// delivered twice is one effect). Tests of the passes and of the server
// point their clients at them.
package passestest

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
)

// Push is one pass update push APNs received.
type Push struct {
	Proto         int // HTTP major version
	DeviceToken   string
	Topic         string
	PushType      string
	Priority      string
	Authorization string
	Body          string
}

// APNs stands in for Apple's push service.
type APNs struct {
	Server *httptest.Server

	mu     sync.Mutex
	pushes []Push
	gone   map[string]bool
}

// NewAPNs starts an HTTP/2 TLS server on 127.0.0.1, stopped when the test
// ends.
func NewAPNs(t testing.TB) *APNs {
	a := &APNs{gone: map[string]bool{}}
	a.Server = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	a.Server.EnableHTTP2 = true
	a.Server.StartTLS()
	t.Cleanup(a.Server.Close)
	return a
}

func (a *APNs) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if r.Method != http.MethodPost || !ok {
		http.Error(w, `{"reason":"BadPath"}`, http.StatusNotFound)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pushes = append(a.pushes, Push{Proto: r.ProtoMajor, DeviceToken: token, Topic: r.Header.Get("apns-topic"),
		PushType: r.Header.Get("apns-push-type"), Priority: r.Header.Get("apns-priority"),
		Authorization: r.Header.Get("authorization"), Body: string(body)})
	w.Header().Set("apns-id", fmt.Sprintf("00000000-0000-0000-0000-%012d", len(a.pushes)))
	if a.gone[token] {
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, `{"reason":"Unregistered","timestamp":1767225600000}`)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Client trusts the stand-in's certificate and speaks HTTP/2.
func (a *APNs) Client() *http.Client { return a.Server.Client() }

// Pushes returns the pushes received so far.
func (a *APNs) Pushes() []Push {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Push(nil), a.pushes...)
}

// Unregister makes APNs answer 410 Unregistered for the device token.
func (a *APNs) Unregister(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gone[token] = true
}

// VerifyProviderToken checks an APNs authorization header as APNs does: a
// bearer JWT signed ES256 (r||s) by pub, naming keyID and teamID.
func VerifyProviderToken(authorization string, pub *ecdsa.PublicKey, keyID, teamID string) error {
	token, ok := strings.CutPrefix(authorization, "bearer ")
	if !ok {
		return fmt.Errorf("authorization %q is not a bearer token", authorization)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("the token has %d parts", len(parts))
	}
	var header struct{ Alg, Kid string }
	var claims struct {
		Iss string
		Iat int64
	}
	for i, v := range []any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return err
		}
	}
	if header.Alg != "ES256" || header.Kid != keyID || claims.Iss != teamID || claims.Iat == 0 {
		return fmt.Errorf("token header %+v, claims %+v", header, claims)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return errors.New("the signature is not 64 bytes of r||s")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("the ES256 signature does not verify")
	}
	return nil
}

// Google stands in for the Google Wallet API and Google's token endpoint.
type Google struct {
	Server *httptest.Server

	mu       sync.Mutex
	classes  map[string]googlewallet.LoyaltyClass
	objects  map[string]googlewallet.LoyaltyObject
	patches  []googlewallet.LoyaltyObject
	messages map[string][]googlewallet.Message // by object id, one per message id
	adds     int                               // addMessage calls, repeats included
	fail     int                               // answer API calls with this status (0: do not)
}

// NewGoogle starts the stand-in on 127.0.0.1, stopped when the test ends.
func NewGoogle(t testing.TB) *Google {
	g := &Google{classes: map[string]googlewallet.LoyaltyClass{}, objects: map[string]googlewallet.LoyaltyObject{},
		messages: map[string][]googlewallet.Message{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", g.token)
	mux.HandleFunc("POST /walletobjects/v1/loyaltyClass", g.insertClass)
	mux.HandleFunc("PATCH /walletobjects/v1/loyaltyClass/{id}", g.insertClass)
	mux.HandleFunc("POST /walletobjects/v1/loyaltyObject", g.insertObject)
	mux.HandleFunc("PATCH /walletobjects/v1/loyaltyObject/{id}", g.patchObject)
	mux.HandleFunc("POST /walletobjects/v1/loyaltyObject/{id}/addMessage", g.addMessage)
	g.Server = httptest.NewServer(mux)
	t.Cleanup(g.Server.Close)
	return g
}

// APIURL and TokenURL are the endpoints to configure the client with.
func (g *Google) APIURL() string   { return g.Server.URL + "/walletobjects/v1" }
func (g *Google) TokenURL() string { return g.Server.URL + "/token" }

// Fail makes every API call (not the token endpoint) answer status; 0
// restores normal answers.
func (g *Google) Fail(status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = status
}

// Object returns an object as stored.
func (g *Google) Object(id string) (googlewallet.LoyaltyObject, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.objects[id]
	return o, ok
}

// Patches returns the object patches received.
func (g *Google) Patches() []googlewallet.LoyaltyObject {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]googlewallet.LoyaltyObject(nil), g.patches...)
}

// Messages returns an object's messages: one per message id, however
// often each was added.
func (g *Google) Messages(objectID string) []googlewallet.Message {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]googlewallet.Message(nil), g.messages[objectID]...)
}

// AddMessageCalls counts the addMessage calls, repeats included.
func (g *Google) AddMessageCalls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.adds
}

func (g *Google) token(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.PostFormValue("assertion") == "" {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"access_token":"stand-in-token","expires_in":3600,"token_type":"Bearer"}`)
}

// api checks the call's token and the failure switch; false: answered.
func (g *Google) api(w http.ResponseWriter, r *http.Request, in any) bool {
	if r.Header.Get("Authorization") != "Bearer stand-in-token" {
		apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED")
		return false
	}
	if g.fail != 0 {
		apiError(w, g.fail, "UNAVAILABLE")
		return false
	}
	if in != nil {
		if err := json.NewDecoder(r.Body).Decode(in); err != nil {
			apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT")
			return false
		}
	}
	return true
}

func apiError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":"stand-in says %s","status":%q}}`, status, code, code)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (g *Google) insertClass(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var c googlewallet.LoyaltyClass
	if !g.api(w, r, &c) {
		return
	}
	g.classes[c.ID] = c
	reply(w, c)
}

func (g *Google) insertObject(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var o googlewallet.LoyaltyObject
	if !g.api(w, r, &o) {
		return
	}
	if _, ok := g.classes[o.ClassID]; !ok {
		apiError(w, http.StatusNotFound, "NOT_FOUND")
		return
	}
	if _, ok := g.objects[o.ID]; ok {
		apiError(w, http.StatusConflict, "ALREADY_EXISTS")
		return
	}
	g.objects[o.ID] = o
	reply(w, o)
}

func (g *Google) patchObject(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var o googlewallet.LoyaltyObject
	if !g.api(w, r, &o) {
		return
	}
	if _, ok := g.objects[r.PathValue("id")]; !ok || o.ID != r.PathValue("id") {
		apiError(w, http.StatusNotFound, "NOT_FOUND")
		return
	}
	g.objects[o.ID] = o
	g.patches = append(g.patches, o)
	reply(w, o)
}

// addMessage keeps one message per id, as Google does: a message id
// already on the object is refused with ALREADY_EXISTS.
func (g *Google) addMessage(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var in struct {
		Message googlewallet.Message `json:"message"`
	}
	if !g.api(w, r, &in) {
		return
	}
	g.adds++
	id := r.PathValue("id")
	o, ok := g.objects[id]
	if !ok {
		apiError(w, http.StatusNotFound, "NOT_FOUND")
		return
	}
	for _, m := range g.messages[id] {
		if m.ID == in.Message.ID {
			apiError(w, http.StatusConflict, "ALREADY_EXISTS")
			return
		}
	}
	g.messages[id] = append(g.messages[id], in.Message)
	o.Messages = g.messages[id]
	g.objects[id] = o
	reply(w, map[string]any{"resource": o})
}
