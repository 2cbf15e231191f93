package server

import (
	"errors"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/onboarding"
	"github.com/coalition-loyalty/coalition/gateway/web"
)

// partnerCerts is the partner portal's certificates page: it lists a
// partner's certificates from the register, and issues and revokes them
// only with the PartnerCA credential, logged in (and renewed) for the
// server's life. The server's own credential may mint no partner identity.
func (s *Server) partnerCerts() (web.PartnerCerts, error) {
	p := &onboarding.Portal{Reg: s.partners}
	ca := s.cfg.PartnerCA
	if ca.RoleID == "" && ca.SecretID == "" && ca.Token == "" && ca.Kubernetes.Role == "" {
		return p, nil
	}
	if ca.Addr == "" {
		ca.Addr = s.cfg.Vault.Addr
	}
	var err error
	switch {
	case ca.Addr == "":
		return nil, errors.New("a partner CA credential needs Vault: give --vault-addr")
	case ca.RoleID != "" && ca.SecretID != "":
		p.CA, err = vault.LoginAppRole(s.life, ca.Addr, vault.AppRoleCredentials{RoleID: ca.RoleID, SecretID: ca.SecretID}, s.log)
	case ca.Kubernetes.Role != "":
		p.CA, err = vault.LoginKubernetes(s.life, ca.Addr, ca.Kubernetes, s.log)
	case ca.Token != "":
		p.CA, err = vault.New(ca.Addr, ca.Token)
	default:
		return nil, errors.New("partner CA credential: give both its AppRole role id and secret id")
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
