package rpc

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

// Revocations answers whether a certificate serial is revoked.
type Revocations interface {
	Revoked(serial string) bool
}

// MTLSAuthenticator identifies callers by the client certificate of the TLS
// connection. The server requests a certificate but verifies it here, not in
// the handshake, so that a refused caller gets a gRPC status that says why
// (no certificate, another CA, expired, revoked) instead of a broken
// connection.
type MTLSAuthenticator struct {
	Roots         *x509.CertPool // the coalition's root CA
	Intermediates *x509.CertPool // its issuing CA
	Revocations   Revocations
	Clock         func() time.Time
}

func (a *MTLSAuthenticator) Authenticate(ctx context.Context) (Principal, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, "no connection information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return Principal{}, status.Error(codes.Unauthenticated, "a client certificate issued by the coalition is required")
	}
	leaf := info.State.PeerCertificates[0]
	inter := a.Intermediates.Clone()
	for _, c := range info.State.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	now := time.Now()
	if a.Clock != nil {
		now = a.Clock()
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		msg := "client certificate not issued by the coalition's CA"
		if now.After(leaf.NotAfter) {
			msg = "client certificate expired at " + leaf.NotAfter.UTC().Format(time.RFC3339)
		}
		return Principal{}, status.Error(codes.Unauthenticated, msg)
	}
	if a.Revocations != nil && a.Revocations.Revoked(vault.SerialString(leaf.SerialNumber.Bytes())) {
		return Principal{}, status.Error(codes.Unauthenticated, "client certificate revoked")
	}
	for _, u := range leaf.URIs {
		s := u.String()
		if rest, ok := strings.CutPrefix(s, vault.PartnerURIPrefix); ok {
			id, err := coalition.ParsePartnerID(rest)
			if err != nil {
				break
			}
			return Principal{Role: RolePartner, PartnerID: id}, nil
		}
		if rest, ok := strings.CutPrefix(s, vault.StaffURIPrefix); ok {
			role, name, _ := strings.Cut(rest, "/")
			switch Role(role) {
			case RoleFinance, RoleOperator:
				return Principal{Role: Role(role), Person: finance.StaffID(name), PersonName: name}, nil
			}
		}
	}
	return Principal{}, status.Error(codes.Unauthenticated, "client certificate names no partner or staff role")
}

// CRLCache keeps the revoked serials, refreshed by Refresh from the CA's
// revocation list. When the CA cannot be reached the last list stays in
// force, so established partners keep trading while Vault is down.
type CRLCache struct {
	mu      sync.RWMutex
	revoked map[string]bool
}

func (c *CRLCache) Revoked(serial string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.revoked[serial]
}

// Set replaces the list.
func (c *CRLCache) Set(revoked map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked = revoked
}

// Refresh fetches the list every interval until ctx ends; failures keep the
// previous list and are reported to onErr. The caller sets the first list
// before serving.
func (c *CRLCache) Refresh(ctx context.Context, every time.Duration, fetch func(context.Context) (map[string]bool, error), onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r, err := fetch(ctx); err == nil {
			c.Set(r)
		} else if ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
	}
}

// KeyChecker checks an API key (package apikeys).
type KeyChecker interface {
	Check(ctx context.Context, secret string) (apikeys.Key, error)
}

// CertOrDev identifies a caller by its client certificate when the
// connection presents one; otherwise by an API key ("authorization: Bearer
// ck_…", as REST clients send through the gateway); otherwise, in dev mode
// only, by dev credentials from a loopback peer.
type CertOrDev struct {
	MTLS    *MTLSAuthenticator
	APIKeys KeyChecker        // nil: no API keys
	Dev     *DevAuthenticator // nil outside dev mode
}

func (a CertOrDev) Authenticate(ctx context.Context) (Principal, error) {
	p, ok := peer.FromContext(ctx)
	if ok && a.MTLS != nil {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			return a.MTLS.Authenticate(ctx)
		}
	}
	if vals := metadata.ValueFromIncomingContext(ctx, "authorization"); len(vals) == 1 && a.APIKeys != nil {
		if secret, ok := strings.CutPrefix(vals[0], "Bearer "); ok {
			k, err := a.APIKeys.Check(ctx, secret)
			if errors.Is(err, apikeys.ErrInvalid) {
				return Principal{}, status.Error(codes.Unauthenticated, "invalid, expired or revoked API key")
			}
			if err != nil {
				return Principal{}, cannotCheck("cannot check the API key now", err)
			}
			if k.Role == apikeys.RolePartner {
				return Principal{Role: RolePartner, PartnerID: *k.PartnerID}, nil
			}
			return staffPrincipal(k.Role, k.PartnerID, k.Name), nil
		}
	}
	if a.Dev == nil || !ok || !loopbackPeer(p) {
		return Principal{}, status.Error(codes.Unauthenticated, "a client certificate issued by the coalition, or an API key, is required")
	}
	return a.Dev.Authenticate(ctx)
}

func loopbackPeer(p *peer.Peer) bool {
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
