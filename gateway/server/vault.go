package server

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
)

// security is what the server takes from Vault.
type security struct {
	client  *vault.Client
	cert    *vault.ServerCert
	pool    *x509.CertPool
	crlRead readiness.Stamp // when the revocation list was last read
}

// connectVault logs the server in to Vault (AppRole, Kubernetes, or a
// token), and gets its TLS certificate and the coalition's CA. The token is
// renewed for the server's life, not the start's.
func (s *Server) connectVault(context.Context) error {
	v := s.cfg.Vault
	if v.Addr == "" {
		return nil
	}
	// Complete's ctx ends s.life if the start is aborted.
	ctx := s.life
	var client *vault.Client
	var err error
	switch {
	case v.RoleID != "" && v.SecretID != "":
		client, err = vault.LoginAppRole(ctx, v.Addr, vault.AppRoleCredentials{RoleID: v.RoleID, SecretID: v.SecretID}, s.log)
	case v.Kubernetes.Role != "":
		client, err = vault.LoginKubernetes(ctx, v.Addr, v.Kubernetes, s.log)
	case v.Token != "":
		client, err = vault.New(v.Addr, v.Token)
	default:
		return errors.New("Vault at " + v.Addr + ": give --vault-role-id and --vault-secret-id (AppRole), --vault-kubernetes-role, or a token")
	}
	if err != nil {
		return err
	}
	client.SetHashTimeout(v.HashTimeout)
	pool, _, err := client.CAPool(ctx)
	if err != nil {
		return fmt.Errorf("%w (has `coalitionctl vault bootstrap` run?)", err)
	}
	cert, err := vault.NewServerCert(ctx, client, s.cfg.TLSHosts, 72*time.Hour)
	if err != nil {
		return err
	}
	s.sec = &security{client: client, cert: cert, pool: pool}
	return nil
}

// readRevocations reads the revocation list from Vault and notes when, for
// readiness.
func (s *Server) readRevocations(ctx context.Context) (map[string]bool, error) {
	r, err := s.sec.client.RevokedSerials(ctx)
	if err == nil {
		s.sec.crlRead.Set(time.Now())
	}
	return r, err
}

// RefreshRevocations reads the revocation list now instead of at the next
// periodic refresh; the last list stays in force if Vault cannot be
// reached. Without Vault there is no list, and nothing to do.
func (s *Server) RefreshRevocations(ctx context.Context) error {
	if s.sec == nil {
		return nil
	}
	r, err := s.readRevocations(ctx)
	if err != nil {
		return err
	}
	s.crl.Set(r)
	return nil
}
