// Package apns tells Apple's push service that a member's Wallet pass has
// changed, so the device fetches the new pass from the pass web service. It
// speaks the APNs HTTP/2 provider API with token (JWT) authentication and
// sorts Apple's answers by what the caller must do next: nothing, forget the
// device, retry later, or fix the request.
package apns

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/wallet/internal/jws"
	"github.com/coalition-loyalty/coalition/coalition/wallet/keypem"
)

// ProductionURL is APNs' production host. Wallet passes are pushed there
// even while the app side is in development: passes have no sandbox.
const ProductionURL = "https://api.push.apple.com"

// TokenLifetime is how long a provider token is reused. APNs rejects tokens
// older than an hour and throttles providers that mint new ones more often
// than every 20 minutes; 40 minutes stays clear of both.
const TokenLifetime = 40 * time.Minute

// Config configures a Client.
type Config struct {
	BaseURL    string       // ProductionURL if empty
	HTTPClient *http.Client // must speak HTTP/2; a clone of http.DefaultTransport's settings if nil
	// TeamID and KeyID name the APNs auth key (.p8), which must belong to
	// the team that owns the pass type. Key signs the provider tokens.
	TeamID string
	KeyID  string
	Key    *ecdsa.PrivateKey
	// Topic is the pass type identifier ("pass.…").
	Topic string
	Clock func() time.Time // time.Now if nil
}

// Client sends pass update pushes. Safe for concurrent use.
type Client struct {
	base  string
	http  *http.Client
	cfg   Config
	clock func() time.Time

	mu       sync.Mutex
	token    string
	issuedAt time.Time
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.TeamID == "" || cfg.KeyID == "":
		return nil, errors.New("apns: team id and key id are required")
	case cfg.Key == nil || cfg.Key.Curve != elliptic.P256():
		return nil, errors.New("apns: an ECDSA P-256 key is required (ES256)")
	case !strings.HasPrefix(cfg.Topic, "pass."):
		return nil, fmt.Errorf("apns: topic %q is not a pass type identifier", cfg.Topic)
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = ProductionURL
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ForceAttemptHTTP2 = true
		hc = &http.Client{Transport: t, Timeout: 30 * time.Second}
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Client{base: base, http: hc, cfg: cfg, clock: clock}, nil
}

// ParseKey reads an APNs auth key (the .p8 file Apple issues, PKCS #8 PEM).
func ParseKey(p8 []byte) (*ecdsa.PrivateKey, error) {
	signer, err := keypem.PrivateKey(p8)
	if err != nil {
		return nil, fmt.Errorf("apns: %w", err)
	}
	key, ok := signer.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("apns: auth key is a %T, not an ECDSA P-256 key", signer)
	}
	return key, nil
}

// NotifyPassUpdated asks APNs to wake the device behind pushToken (the token
// the device registered with the pass web service), which then asks the web
// service which passes changed. The error, if any, is an
// *UnregisteredError, *RejectedError or *RetryableError, or the context's.
func (c *Client) NotifyPassUpdated(ctx context.Context, pushToken string) error {
	if !isHex(pushToken) {
		return coalition.Errorf(coalition.Invalid, "push_token", "is not a hexadecimal device token")
	}
	token, err := c.providerToken()
	if err != nil {
		return err
	}
	// Wallet ignores the payload; Apple's documented pass update is an
	// empty dictionary.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/3/device/"+pushToken, bytes.NewReader([]byte("{}")))
	if err != nil {
		return fmt.Errorf("apns: %w", err)
	}
	req.Header.Set("authorization", "bearer "+token)
	req.Header.Set("apns-topic", c.cfg.Topic)
	// Background and priority 5: the push carries no alert; the lock-screen
	// message comes from the new pass's changeMessage. APNs rejects a
	// background push at priority 10.
	req.Header.Set("apns-push-type", "background")
	req.Header.Set("apns-priority", "5")
	req.Header.Set("content-type", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &RetryableError{Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var reply struct {
		Reason    string `json:"reason"`
		Timestamp int64  `json:"timestamp"` // milliseconds, on 410 only
	}
	_ = json.Unmarshal(body, &reply) // a reply without JSON still has its status
	id := resp.Header.Get("apns-id")
	switch {
	case resp.StatusCode == http.StatusGone:
		e := &UnregisteredError{Reason: reply.Reason, APNsID: id}
		if reply.Timestamp > 0 {
			e.Since = time.UnixMilli(reply.Timestamp).UTC()
		}
		return e
	case resp.StatusCode == http.StatusForbidden && reply.Reason == "ExpiredProviderToken":
		// Our token outlived Apple's patience (clock skew, or a token held
		// across a long pause): the next call mints a fresh one, so trying
		// again will work.
		c.dropToken(token)
		return &RetryableError{Status: resp.StatusCode, Reason: reply.Reason, APNsID: id}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &RetryableError{Status: resp.StatusCode, Reason: reply.Reason, APNsID: id}
	default:
		return &RejectedError{Status: resp.StatusCode, Reason: reply.Reason, APNsID: id}
	}
}

func (c *Client) providerToken() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if c.token != "" && now.Sub(c.issuedAt) < TokenLifetime && !now.Before(c.issuedAt) {
		return c.token, nil
	}
	claims := struct {
		Iss string `json:"iss"`
		Iat int64  `json:"iat"`
	}{c.cfg.TeamID, now.Unix()}
	token, err := jws.Sign(c.cfg.Key, c.cfg.KeyID, "", claims)
	if err != nil {
		return "", fmt.Errorf("apns: provider token: %w", err)
	}
	c.token, c.issuedAt = token, now
	return token, nil
}

func (c *Client) dropToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

func isHex(s string) bool {
	if s == "" || len(s)%2 != 0 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

// UnregisteredError (HTTP 410) means the device token is no longer valid
// for the pass type: the pass was removed or the device reset. The caller
// should delete the registration; pushing to it again is pointless.
type UnregisteredError struct {
	Reason string    // "Unregistered" or "ExpiredToken"
	Since  time.Time // when APNs last knew the token valid; zero if not given
	APNsID string
}

func (e *UnregisteredError) Error() string {
	if e.Since.IsZero() {
		return fmt.Sprintf("apns: device token is gone (%s)", e.Reason)
	}
	return fmt.Sprintf("apns: device token is gone (%s since %s)", e.Reason, e.Since.Format(time.RFC3339))
}

// RejectedError is a refusal that the same request will meet again
// (400, 403, 404, 405, 413): Reason is Apple's, such as "BadDeviceToken",
// "TopicDisallowed" or "InvalidProviderToken".
type RejectedError struct {
	Status int
	Reason string
	APNsID string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("apns: rejected with %d %s", e.Status, e.Reason)
}

// RetryableError is a failure that may pass if tried again later: 429, 5xx,
// an expired provider token (already replaced), or no answer at all (Status
// 0, Err set).
type RetryableError struct {
	Status int
	Reason string
	APNsID string
	Err    error
}

func (e *RetryableError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("apns: no answer: %v", e.Err)
	}
	return fmt.Sprintf("apns: try again later: %d %s", e.Status, e.Reason)
}

func (e *RetryableError) Unwrap() error { return e.Err }
