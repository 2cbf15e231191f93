package vault

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
)

// LoginAppRole logs in with the server's AppRole and keeps the token alive
// until ctx ends: a watcher renews it, and logs in again when it can no
// longer be renewed (its maximum TTL reached, or Vault was away too long).
func LoginAppRole(ctx context.Context, addr string, creds AppRoleCredentials, log *slog.Logger) (*Client, error) {
	c, err := New(addr, "")
	if err != nil {
		return nil, err
	}
	login := func() (*api.Secret, error) {
		s, err := c.api.Logical().WriteWithContext(ctx, "auth/approle/login", map[string]any{
			"role_id": creds.RoleID, "secret_id": creds.SecretID,
		})
		if err != nil {
			return nil, fmt.Errorf("vault: approle login: %w", err)
		}
		if s == nil || s.Auth == nil {
			return nil, fmt.Errorf("vault: approle login returned no token")
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
	for {
		left := time.Until(s.NotAfter())
		wait := left - s.ttl/3
		if wait < time.Second {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := s.renew(ctx); err != nil && ctx.Err() == nil {
			log.Error("renew server certificate", "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
	}
}
