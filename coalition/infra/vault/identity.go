package vault

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
)

// LoginAppRole logs in with the server's AppRole and keeps the token alive
// until ctx ends: a watcher renews it, and logs in again when it can no
// longer be renewed (its maximum TTL reached, or Vault was away too long).
func LoginAppRole(ctx context.Context, addr string, creds AppRoleCredentials, log *slog.Logger) (*Client, error) {
	return loginAndRenew(ctx, addr, "approle", log, func(ctx context.Context) (string, map[string]any, error) {
		return "auth/approle/login", map[string]any{"role_id": creds.RoleID, "secret_id": creds.SecretID}, nil
	})
}

// DefaultKubernetesTokenPath is where Kubernetes mounts a pod's service
// account token.
const DefaultKubernetesTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// KubernetesLogin says how the server logs in with Vault's Kubernetes auth
// method: as Role, with the service account token in TokenPath, at the auth
// method mounted at Mount.
type KubernetesLogin struct {
	Role      string
	TokenPath string // DefaultKubernetesTokenPath if empty
	Mount     string // "kubernetes" if empty
}

// LoginKubernetes logs in with the pod's service account token (Vault asks
// the Kubernetes TokenReview API whether it is genuine) and keeps the Vault
// token alive as LoginAppRole does. The service account token is read from
// its file at every login, not once: the kubelet rotates projected tokens
// in place, and a token read at start-up expires.
func LoginKubernetes(ctx context.Context, addr string, k KubernetesLogin, log *slog.Logger) (*Client, error) {
	if k.Role == "" {
		return nil, errors.New("vault: kubernetes login: no role")
	}
	if k.TokenPath == "" {
		k.TokenPath = DefaultKubernetesTokenPath
	}
	if k.Mount == "" {
		k.Mount = "kubernetes"
	}
	path := "auth/" + strings.Trim(k.Mount, "/") + "/login"
	return loginAndRenew(ctx, addr, "kubernetes", log, func(context.Context) (string, map[string]any, error) {
		jwt, err := os.ReadFile(k.TokenPath)
		if err != nil {
			return "", nil, fmt.Errorf("read the service account token: %w", err)
		}
		if len(strings.TrimSpace(string(jwt))) == 0 {
			return "", nil, fmt.Errorf("the service account token file %s is empty", k.TokenPath)
		}
		return path, map[string]any{"role": k.Role, "jwt": strings.TrimSpace(string(jwt))}, nil
	})
}

// loginAndRenew logs in once (request gives the login path and its body,
// afresh for each login), then keeps the token alive until ctx ends: a
// watcher renews it, and it logs in again when the token can no longer be
// renewed. Neither the credentials nor the token are ever logged.
func loginAndRenew(ctx context.Context, addr, method string, log *slog.Logger,
	request func(context.Context) (string, map[string]any, error)) (*Client, error) {
	c, err := New(addr, "")
	if err != nil {
		return nil, err
	}
	login := func() (*api.Secret, error) {
		path, body, err := request(ctx)
		if err != nil {
			return nil, fmt.Errorf("vault: %s login: %w", method, err)
		}
		s, err := c.api.Logical().WriteWithContext(ctx, path, body)
		if err != nil {
			return nil, fmt.Errorf("vault: %s login: %w", method, err)
		}
		if s == nil || s.Auth == nil {
			return nil, fmt.Errorf("vault: %s login returned no token", method)
		}
		c.api.SetToken(s.Auth.ClientToken)
		return s, nil
	}
	secret, err := login()
	if err != nil {
		return nil, err
	}
	go func() {
		for ctx.Err() == nil {
			w, err := c.api.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: secret})
			if err != nil {
				log.Error("vault token watcher", "error", err)
				return
			}
			go w.Start()
		watch:
			for {
				select {
				case <-ctx.Done():
					w.Stop()
					return
				case <-w.RenewCh(): // renewed; keep watching
				case err := <-w.DoneCh():
					if err != nil {
						log.Warn("vault token renewal stopped; logging in again", "error", err)
					}
					break watch
				}
			}
			w.Stop()
			for ctx.Err() == nil {
				if secret, err = login(); err == nil {
					break
				}
				log.Error("vault login", "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
				}
			}
		}
	}()
	return c, nil
}

// ServerCert holds the server's TLS certificate from Vault and renews it
// before it expires, without a restart: TLS handshakes read the current one.
type ServerCert struct {
	// The clock Renew runs on; nil: time.Now and time.After. Set before
	// Renew starts (tests pass a manual clock to travel to the renewal).
	Clock func() time.Time
	After func(time.Duration) <-chan time.Time

	c     *Client
	hosts []string
	ttl   time.Duration
	cur   atomic.Pointer[tls.Certificate]
	until atomic.Pointer[time.Time]
}

// NewServerCert issues the first certificate.
func NewServerCert(ctx context.Context, c *Client, hosts []string, ttl time.Duration) (*ServerCert, error) {
	s := &ServerCert{c: c, hosts: hosts, ttl: ttl}
	if err := s.renew(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *ServerCert) renew(ctx context.Context) error {
	cert, b, err := s.c.IssueServerCert(ctx, s.hosts, s.ttl)
	if err != nil {
		return err
	}
	s.cur.Store(&cert)
	s.until.Store(&b.NotAfter)
	return nil
}

// GetCertificate is for tls.Config.
func (s *ServerCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.cur.Load(), nil
}

// NotAfter is when the current certificate expires.
func (s *ServerCert) NotAfter() time.Time { return *s.until.Load() }

// Renew re-issues the certificate when two thirds of its life have passed,
// until ctx ends; if Vault is away it keeps the current one and tries again.
func (s *ServerCert) Renew(ctx context.Context, log *slog.Logger) {
	now, after := s.Clock, s.After
	if now == nil {
		now = time.Now
	}
	if after == nil {
		after = time.After
	}
	for {
		left := s.NotAfter().Sub(now())
		wait := left - s.ttl/3
		if wait < time.Second {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-after(wait):
		}
		if err := s.renew(ctx); err != nil && ctx.Err() == nil {
			log.Error("renew server certificate", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-after(10 * time.Second):
			}
		}
	}
}

// Check asks Vault whether it is up (reachable, initialised, unsealed) and
// whether the client's token is still good, and returns how long the token
// has left: zero for a token that does not expire (a root or periodic
// token without a TTL).
func (c *Client) Check(ctx context.Context) (time.Duration, error) {
	h, err := c.api.Sys().HealthWithContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("vault: health: %w", err)
	}
	// The health call answers 200 for a sealed or uninitialised Vault too
	// (it asks for that, to read the state): such a Vault serves nothing.
	if !h.Initialized || h.Sealed {
		return 0, fmt.Errorf("vault: sealed or not initialised")
	}
	s, err := c.api.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return 0, fmt.Errorf("vault: look up the server's token: %w", err)
	}
	ttl, err := s.TokenTTL()
	if err != nil {
		return 0, fmt.Errorf("vault: the server's token: %w", err)
	}
	return ttl, nil
}
