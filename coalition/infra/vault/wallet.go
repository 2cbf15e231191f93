package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/api"
)

// SecretsMount is the KV (version 2) mount of the credentials that others
// issue to the coalition and Vault only keeps: the wallet credentials from
// Apple and Google. The server reads them; operators write them
// (coalitionctl vault put-wallet-…).
const SecretsMount = "coalition-secrets"

// Paths of the wallet credentials under SecretsMount.
const (
	AppleWalletPath  = "wallet/apple"
	APNsKeyPath      = "wallet/apns"
	GoogleWalletPath = "wallet/google"
)

// AppleWallet is the Pass Type ID certificate Apple issues, its private
// key and Apple's WWDR intermediate that issued it, all PEM.
type AppleWallet struct {
	CertificatePEM string `json:"certificate"`
	KeyPEM         string `json:"key"`
	WWDRPEM        string `json:"wwdr"`
}

// APNsKey is the token-based APNs auth key (.p8) with its key id and the
// team it belongs to.
type APNsKey struct {
	KeyP8  string `json:"key_p8"`
	KeyID  string `json:"key_id"`
	TeamID string `json:"team_id"`
}

// GoogleWallet is the service account key file (JSON, as Google issues it)
// of the account that owns the Google Wallet issuer, and the issuer's id.
type GoogleWallet struct {
	ServiceAccountJSON string `json:"service_account_json"`
	IssuerID           string `json:"issuer_id"`
}

// WalletSecrets are the wallet credentials found in Vault; nil: none
// stored.
type WalletSecrets struct {
	Apple  *AppleWallet
	APNs   *APNsKey
	Google *GoogleWallet
}

func (c *Client) kv() *api.KVv2 { return c.api.KVv2(SecretsMount) }

// getSecret reads path into out; found is false when nothing is stored there.
func (c *Client) getSecret(ctx context.Context, path string, out any) (found bool, err error) {
	s, err := c.kv().Get(ctx, path)
	if errors.Is(err, api.ErrSecretNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("vault: read %s/%s: %w", SecretsMount, path, err)
	}
	if s == nil || s.Data == nil {
		return false, nil
	}
	b, err := json.Marshal(s.Data)
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return false, fmt.Errorf("vault: %s/%s: %w", SecretsMount, path, err)
	}
	return true, nil
}

func (c *Client) putSecret(ctx context.Context, path string, in any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var data map[string]any
	if err := json.Unmarshal(b, &data); err != nil {
		return err
	}
	if _, err := c.kv().Put(ctx, path, data); err != nil {
		return fmt.Errorf("vault: write %s/%s: %w", SecretsMount, path, err)
	}
	return nil
}

// WalletSecrets reads whichever wallet credentials are stored.
func (c *Client) WalletSecrets(ctx context.Context) (WalletSecrets, error) {
	var (
		out    WalletSecrets
		apple  AppleWallet
		apns   APNsKey
		google GoogleWallet
	)
	for _, s := range []struct {
		path string
		into any
		set  func()
	}{
		{AppleWalletPath, &apple, func() { out.Apple = &apple }},
		{APNsKeyPath, &apns, func() { out.APNs = &apns }},
		{GoogleWalletPath, &google, func() { out.Google = &google }},
	} {
		found, err := c.getSecret(ctx, s.path, s.into)
		if err != nil {
			return WalletSecrets{}, err
		}
		if found {
			s.set()
		}
	}
	return out, nil
}

// PutAppleWallet stores the pass type certificate, key and WWDR
// intermediate (a new version; the old stays in the mount's history).
func (c *Client) PutAppleWallet(ctx context.Context, a AppleWallet) error {
	return c.putSecret(ctx, AppleWalletPath, a)
}

// PutAPNsKey stores the APNs auth key.
func (c *Client) PutAPNsKey(ctx context.Context, k APNsKey) error {
	return c.putSecret(ctx, APNsKeyPath, k)
}

// PutGoogleWallet stores the Google Wallet service account key and issuer
// id.
func (c *Client) PutGoogleWallet(ctx context.Context, g GoogleWallet) error {
	return c.putSecret(ctx, GoogleWalletPath, g)
}

// oidUserID is the UID attribute under which Apple writes the pass type
// identifier into a Pass Type ID certificate's subject.
var oidUserID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// Dev Google Wallet identity: an issuer id no real issuer has, and a
// service account that Google does not know.
const (
	DevGoogleIssuerID = "3388000000000000000"
	devGoogleEmail    = "wallet-dev@coalition-dev.iam.gserviceaccount.com"
)

// EnsureDevWallet stores dev wallet credentials where none are stored, for
// dev mode: a pass type certificate for passTypeID and teamID signed by the
// coalition's issuing CA (whose key never leaves Vault), with that CA as
// the "WWDR" intermediate, and a Google service account key of its own. No
// APNs key: pushes need Apple's. A stored Apple certificate for another
// pass type is replaced.
func (c *Client) EnsureDevWallet(ctx context.Context, passTypeID, teamID string) error {
	var apple AppleWallet
	found, err := c.getSecret(ctx, AppleWalletPath, &apple)
	if err != nil {
		return err
	}
	if !found || !certFor(apple.CertificatePEM, passTypeID, teamID) {
		if apple, err = c.devPassCertificate(ctx, passTypeID, teamID); err != nil {
			return err
		}
		if err := c.PutAppleWallet(ctx, apple); err != nil {
			return err
		}
	}
	var google GoogleWallet
	if found, err = c.getSecret(ctx, GoogleWalletPath, &google); err != nil || found {
		return err
	}
	if google, err = devServiceAccount(); err != nil {
		return err
	}
	return c.PutGoogleWallet(ctx, google)
}

// certFor says whether certPEM is a certificate for the pass type and team.
func certFor(certPEM, passTypeID, teamID string) bool {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	uid := ""
	for _, atv := range cert.Subject.Names {
		if atv.Type.Equal(oidUserID) {
			uid, _ = atv.Value.(string)
		}
	}
	return uid == passTypeID && len(cert.Subject.OrganizationalUnit) == 1 && cert.Subject.OrganizationalUnit[0] == teamID
}

// devPassCertificate makes a key here and has the coalition's issuing CA
// sign its request verbatim, which keeps the subject as Apple writes it:
// UID = pass type id, OU = team id.
func (c *Client) devPassCertificate(ctx context.Context, passTypeID, teamID string) (AppleWallet, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return AppleWallet{}, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{
		CommonName:         "Pass Type ID: " + passTypeID,
		OrganizationalUnit: []string{teamID},
		Organization:       []string{"Coalition dev"},
		ExtraNames:         []pkix.AttributeTypeAndValue{{Type: oidUserID, Value: passTypeID}},
	}}, key)
	if err != nil {
		return AppleWallet{}, fmt.Errorf("vault: dev pass certificate request: %w", err)
	}
	s, err := c.write(ctx, PKIMount+"/sign-verbatim", map[string]any{
		"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})),
		"ttl": "8760h", "key_usage": "DigitalSignature",
	})
	if err != nil {
		return AppleWallet{}, err
	}
	cert, _ := s.Data["certificate"].(string)
	ca, _ := s.Data["issuing_ca"].(string)
	if cert == "" || ca == "" {
		return AppleWallet{}, errors.New("vault: sign-verbatim returned no certificate")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return AppleWallet{}, err
	}
	return AppleWallet{CertificatePEM: cert, KeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), WWDRPEM: ca}, nil
}

// devServiceAccount makes a service account key file as Google writes
// them, for an account Google does not know: save links are signed as in
// production, and Google's API would refuse them.
func devServiceAccount() (GoogleWallet, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return GoogleWallet{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return GoogleWallet{}, err
	}
	id := make([]byte, 20)
	if _, err := rand.Read(id); err != nil {
		return GoogleWallet{}, err
	}
	b, err := json.MarshalIndent(map[string]string{
		"type":           "service_account",
		"project_id":     "coalition-dev",
		"private_key_id": hex.EncodeToString(id),
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   devGoogleEmail,
		"token_uri":      "https://oauth2.googleapis.com/token",
	}, "", "  ")
	if err != nil {
		return GoogleWallet{}, err
	}
	return GoogleWallet{ServiceAccountJSON: string(b), IssuerID: DevGoogleIssuerID}, nil
}
