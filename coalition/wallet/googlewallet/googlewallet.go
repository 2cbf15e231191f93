// Package googlewallet puts coalition members' loyalty cards into Google
// Wallet: it shapes the walletobjects v1 loyalty class and objects, signs
// "Save to Google Wallet" links, and keeps classes and objects current
// through the REST API with a service account's OAuth2 token. Keys come in
// as values (from Vault) and time from the caller's clock.
package googlewallet

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coalition-loyalty/coalition/coalition/wallet/keypem"
)

// ServiceAccount is the Google Cloud service account that owns the issuer.
type ServiceAccount struct {
	Email string
	KeyID string // private_key_id; sent as the JWT "kid" so Google picks the right public key
	Key   *rsa.PrivateKey
}

// ParseServiceAccount reads a service account key file (the JSON Google
// issues), as stored in Vault.
func ParseServiceAccount(jsonKey []byte) (ServiceAccount, error) {
	var f struct {
		Type         string `json:"type"`
		ClientEmail  string `json:"client_email"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
	}
	if err := json.Unmarshal(jsonKey, &f); err != nil {
		return ServiceAccount{}, fmt.Errorf("googlewallet: service account key: %w", err)
	}
	if f.Type != "service_account" || f.ClientEmail == "" {
		return ServiceAccount{}, errors.New("googlewallet: not a service account key file")
	}
	signer, err := keypem.PrivateKey([]byte(f.PrivateKey))
	if err != nil {
		return ServiceAccount{}, fmt.Errorf("googlewallet: service account key: %w", err)
	}
	key, ok := signer.(*rsa.PrivateKey)
	if !ok {
		return ServiceAccount{}, fmt.Errorf("googlewallet: service account key is a %T, not RSA", signer)
	}
	return ServiceAccount{Email: f.ClientEmail, KeyID: f.PrivateKeyID, Key: key}, nil
}

func (sa ServiceAccount) check() error {
	if sa.Email == "" || sa.Key == nil {
		return errors.New("googlewallet: service account email and key are required")
	}
	return nil
}
