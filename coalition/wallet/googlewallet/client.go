package googlewallet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/wallet/internal/jws"
)

const (
	// DefaultBaseURL is the walletobjects v1 REST API.
	DefaultBaseURL = "https://walletobjects.googleapis.com/walletobjects/v1"
	// DefaultTokenURL is Google's OAuth2 token endpoint.
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
	// Scope is the only scope the issuer API needs.
	Scope = "https://www.googleapis.com/auth/wallet_object.issuer"
)

// tokenMargin is how long before its expiry an access token is replaced, so
// that a request sent just before expiry does not arrive just after.
const tokenMargin = time.Minute

// Config configures a Client.
type Config struct {
	BaseURL    string       // DefaultBaseURL if empty
	TokenURL   string       // DefaultTokenURL if empty; also the assertion's audience
	HTTPClient *http.Client // a client with a 30 s timeout if nil
	Account    ServiceAccount
	Clock      func() time.Time // time.Now if nil
}

// Client calls the walletobjects API. Safe for concurrent use.
type Client struct {
	base, tokenURL string
	http           *http.Client
	account        ServiceAccount
	clock          func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Account.check(); err != nil {
		return nil, err
	}
	c := &Client{
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		tokenURL: cfg.TokenURL,
		http:     cfg.HTTPClient,
		account:  cfg.Account,
		clock:    cfg.Clock,
	}
	if c.base == "" {
		c.base = DefaultBaseURL
	}
	if c.tokenURL == "" {
		c.tokenURL = DefaultTokenURL
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	return c, nil
}

// APIError is a non-2xx answer from Google. Status is the HTTP status and
// Code Google's canonical code ("ALREADY_EXISTS", "NOT_FOUND", …).
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("googlewallet: %d %s: %s", e.Status, e.Code, e.Message)
}

// Retryable reports whether the same request may succeed later.
func (e *APIError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// IsNotFound reports whether err is Google saying the class or object does
// not exist.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// UpsertClass inserts class, or patches it if it already exists: inserting
// is how a deploy makes sure the class is there, and the second deploy
// must not fail.
func (c *Client) UpsertClass(ctx context.Context, class LoyaltyClass) (LoyaltyClass, error) {
	var out LoyaltyClass
	err := c.do(ctx, http.MethodPost, "/loyaltyClass", class, &out)
	if isConflict(err) {
		return c.PatchClass(ctx, class)
	}
	if err != nil {
		return LoyaltyClass{}, fmt.Errorf("insert loyalty class %s: %w", class.ID, err)
	}
	return out, nil
}

// GetClass fetches a class by id.
func (c *Client) GetClass(ctx context.Context, id string) (LoyaltyClass, error) {
	var out LoyaltyClass
	if err := c.do(ctx, http.MethodGet, "/loyaltyClass/"+url.PathEscape(id), nil, &out); err != nil {
		return LoyaltyClass{}, fmt.Errorf("get loyalty class %s: %w", id, err)
	}
	return out, nil
}

// PatchClass updates the fields class sets.
func (c *Client) PatchClass(ctx context.Context, class LoyaltyClass) (LoyaltyClass, error) {
	var out LoyaltyClass
	if err := c.do(ctx, http.MethodPatch, "/loyaltyClass/"+url.PathEscape(class.ID), class, &out); err != nil {
		return LoyaltyClass{}, fmt.Errorf("patch loyalty class %s: %w", class.ID, err)
	}
	return out, nil
}

// UpsertObject inserts obj, or patches it if it already exists (a member
// who saved the card before, or a retried insert whose answer was lost).
func (c *Client) UpsertObject(ctx context.Context, obj LoyaltyObject) (LoyaltyObject, error) {
	var out LoyaltyObject
	err := c.do(ctx, http.MethodPost, "/loyaltyObject", obj, &out)
	if isConflict(err) {
		return c.PatchObject(ctx, obj)
	}
	if err != nil {
		return LoyaltyObject{}, fmt.Errorf("insert loyalty object %s: %w", obj.ID, err)
	}
	return out, nil
}

// GetObject fetches an object by id.
func (c *Client) GetObject(ctx context.Context, id string) (LoyaltyObject, error) {
	var out LoyaltyObject
	if err := c.do(ctx, http.MethodGet, "/loyaltyObject/"+url.PathEscape(id), nil, &out); err != nil {
		return LoyaltyObject{}, fmt.Errorf("get loyalty object %s: %w", id, err)
	}
	return out, nil
}

// PatchObject updates the fields obj sets. Lists it sets (text modules,
// messages) replace the stored ones whole.
func (c *Client) PatchObject(ctx context.Context, obj LoyaltyObject) (LoyaltyObject, error) {
	var out LoyaltyObject
	if err := c.do(ctx, http.MethodPatch, "/loyaltyObject/"+url.PathEscape(obj.ID), obj, &out); err != nil {
		return LoyaltyObject{}, fmt.Errorf("patch loyalty object %s: %w", obj.ID, err)
	}
	return out, nil
}

// AddMessage adds msg to the object's details and, with
// MessageTypeTextAndNotify, notifies the member. Give msg an ID derived from
// what it announces (a transaction id) so a retry does not show it twice.
func (c *Client) AddMessage(ctx context.Context, objectID string, msg Message) (LoyaltyObject, error) {
	var out struct {
		Resource LoyaltyObject `json:"resource"`
	}
	in := struct {
		Message Message `json:"message"`
	}{msg}
	if err := c.do(ctx, http.MethodPost, "/loyaltyObject/"+url.PathEscape(objectID)+"/addMessage", in, &out); err != nil {
		return LoyaltyObject{}, fmt.Errorf("add message to loyalty object %s: %w", objectID, err)
	}
	return out.Resource, nil
}

func isConflict(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == http.StatusConflict
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	token, err := c.accessToken(ctx)
	if err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		if resp.StatusCode == http.StatusUnauthorized {
			// Revoked or rotated key: the next call asks for a new token.
			c.dropToken(token)
		}
		return apiError(resp.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s %s answer: %w", method, path, err)
	}
	return nil
}

func apiError(status int, data []byte) *APIError {
	var body struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	e := &APIError{Status: status}
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message = body.Error.Status, body.Error.Message
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// accessToken returns a cached OAuth2 token, or gets a new one with the
// JWT-bearer grant (RFC 7523). The lock is held across the exchange so that
// concurrent callers wait for one exchange instead of each starting their
// own.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	if c.token != "" && now.Before(c.expires.Add(-tokenMargin)) {
		return c.token, nil
	}
	claims := struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}{c.account.Email, Scope, c.tokenURL, now.Unix(), now.Add(time.Hour).Unix()}
	assertion, err := jws.Sign(c.account.Key, c.account.KeyID, "JWT", claims)
	if err != nil {
		return "", fmt.Errorf("googlewallet: token assertion: %w", err)
	}
	form := url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"assertion":  {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("googlewallet: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("googlewallet: token request: %w", err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken      string `json:"access_token"`
		ExpiresIn        int64  `json:"expires_in"`
		TokenType        string `json:"token_type"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tok); err != nil && resp.StatusCode == http.StatusOK {
		return "", fmt.Errorf("googlewallet: token answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", fmt.Errorf("googlewallet: token request refused: %d %s %s", resp.StatusCode, tok.Error, tok.ErrorDescription)
	}
	if !strings.EqualFold(tok.TokenType, "Bearer") {
		return "", fmt.Errorf("googlewallet: token type %q, want Bearer", tok.TokenType)
	}
	c.token, c.expires = tok.AccessToken, now.Add(time.Duration(tok.ExpiresIn)*time.Second)
	return c.token, nil
}

func (c *Client) dropToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}
