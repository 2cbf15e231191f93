// Package vault keeps the coalition's credentials in HashiCorp Vault: the
// coalition's CA (PKI secrets engine) that issues partners' client
// certificates and the server's own, the transit keys behind keyed hashes
// (phone numbers, API keys), the wallet credentials Apple and Google issue
// (a KV mount), and the server's login (AppRole, or Vault's
// Kubernetes auth method) with its token renewal. Every call takes a context; renewal is done by a watcher, not by
// callers.
package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Mount paths and names the coalition uses in Vault.
const (
	RootMount    = "coalition-root"
	PKIMount     = "coalition-pki"
	TransitMount = "coalition-transit"
	PartnerRole  = "partner"
	ServerRole   = "server"
	StaffRole    = "staff"
	PhoneHashKey = "phone-hash"
	APIKeyKey    = "api-key"
	AppRoleName  = "coalitiond"
	// PartnerURIPrefix starts the URI SAN that names a partner in its
	// certificate: coalition://partner/<partner id>.
	PartnerURIPrefix = "coalition://partner/"
	// StaffURIPrefix starts the URI SAN of finance and operator staff:
	// coalition://staff/<role>/<name>.
	StaffURIPrefix = "coalition://staff/"
)

// Client is a Vault client for the coalition's paths.
type Client struct {
	api         *api.Client
	hashTimeout time.Duration
}

// DefaultHashTimeout bounds a keyed hash (a phone lookup or enrolment, an
// API key's first check), which a request waits on.
const DefaultHashTimeout = 2 * time.Second

// New connects to Vault at addr with a token.
func New(addr, token string) (*Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.Timeout = 10 * time.Second
	retry := cfg.CheckRetry
	if retry == nil {
		retry = api.DefaultRetryPolicy
	}
	cfg.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Value(noRetry{}) != nil {
			return false, nil
		}
		return retry(ctx, resp, err)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.SetToken(token)
	return &Client{api: c, hashTimeout: DefaultHashTimeout}, nil
}

// SetHashTimeout sets how long a keyed hash may take (see HMAC); set it
// before the client is shared.
func (c *Client) SetHashTimeout(d time.Duration) {
	if d > 0 {
		c.hashTimeout = d
	}
}

// noRetry marks a call's context: the client does not retry it. A request
// that waits on the call is better answered UNAVAILABLE at once, and sent
// again by its client, than held through the client's backoff.
type noRetry struct{}

// ErrUnavailable wraps the errors of calls that found Vault away: refused
// or broken connections, no answer within the call's time, a sealed or
// overloaded Vault (HTTP 429, 502, 503, 504).
var ErrUnavailable = errors.New("vault unavailable")

// Unavailable reports whether err says Vault could not be reached.
func Unavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// classify wraps err with ErrUnavailable when it says Vault is away. parent
// is the caller's context: its own deadline is not Vault's fault.
func classify(parent context.Context, err error) error {
	if err == nil || parent.Err() != nil {
		return err
	}
	var resp *api.ResponseError
	var netErr net.Error
	switch {
	case errors.As(err, &resp):
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		default:
			return err
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
	default:
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// API is the underlying client, for what this package does not wrap.
func (c *Client) API() *api.Client { return c.api }

func (c *Client) write(ctx context.Context, path string, data map[string]any) (*api.Secret, error) {
	s, err := c.api.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, fmt.Errorf("vault: write %s: %w", path, err)
	}
	return s, nil
}

func (c *Client) read(ctx context.Context, path string) (*api.Secret, error) {
	s, err := c.api.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("vault: read %s: %w", path, err)
	}
	return s, nil
}

// Bundle is what a partner receives once: its certificate and key, and the
// CA chain that signs the server's certificate too.
type Bundle struct {
	CertPEM    string
	KeyPEM     string
	CAChainPEM string
	Serial     string
	NotAfter   time.Time
}

// PartnerURI is the URI SAN naming a partner.
func PartnerURI(id coalition.PartnerID) string { return PartnerURIPrefix + id.String() }

// IssuePartnerCert issues a client certificate for a partner: its code as
// the common name, its id in a URI SAN.
func (c *Client) IssuePartnerCert(ctx context.Context, id coalition.PartnerID, code string, ttl time.Duration) (Bundle, error) {
	s, err := c.write(ctx, PKIMount+"/issue/"+PartnerRole, map[string]any{
		"common_name": code,
		"uri_sans":    PartnerURI(id),
		"ttl":         ttl.String(),
	})
	if err != nil {
		return Bundle{}, err
	}
	return bundleOf(s)
}

// IssueStaffCert issues a client certificate for a finance or operator
// person.
func (c *Client) IssueStaffCert(ctx context.Context, role, name string, ttl time.Duration) (Bundle, error) {
	s, err := c.write(ctx, PKIMount+"/issue/"+StaffRole, map[string]any{
		"common_name": name,
		"uri_sans":    StaffURIPrefix + role + "/" + name,
		"ttl":         ttl.String(),
	})
	if err != nil {
		return Bundle{}, err
	}
	return bundleOf(s)
}

// IssueServerCert issues the server's TLS certificate for the given host
// names and IP addresses.
func (c *Client) IssueServerCert(ctx context.Context, hosts []string, ttl time.Duration) (tls.Certificate, Bundle, error) {
	var names, ips []string
	for _, h := range hosts {
		if strings.Count(h, ".") == 3 || strings.Contains(h, ":") {
			ips = append(ips, h)
		} else {
			names = append(names, h)
		}
	}
	if len(names) == 0 {
		return tls.Certificate{}, Bundle{}, errors.New("vault: a server certificate needs at least one host name")
	}
	data := map[string]any{"common_name": names[0], "ttl": ttl.String(), "ip_sans": strings.Join(ips, ",")}
	if len(names) > 1 {
		data["alt_names"] = strings.Join(names[1:], ",")
	}
	s, err := c.write(ctx, PKIMount+"/issue/"+ServerRole, data)
	if err != nil {
		return tls.Certificate{}, Bundle{}, err
	}
	b, err := bundleOf(s)
	if err != nil {
		return tls.Certificate{}, Bundle{}, err
	}
	cert, err := tls.X509KeyPair([]byte(b.CertPEM+"\n"+b.CAChainPEM), []byte(b.KeyPEM))
	if err != nil {
		return tls.Certificate{}, Bundle{}, fmt.Errorf("vault: server certificate: %w", err)
	}
	return cert, b, nil
}

func bundleOf(s *api.Secret) (Bundle, error) {
	if s == nil || s.Data == nil {
		return Bundle{}, errors.New("vault: issue returned nothing")
	}
	str := func(k string) string { v, _ := s.Data[k].(string); return v }
	b := Bundle{CertPEM: str("certificate"), KeyPEM: str("private_key"), Serial: str("serial_number")}
	if chain, ok := s.Data["ca_chain"].([]any); ok {
		var parts []string
		for _, p := range chain {
			if ps, ok := p.(string); ok {
				parts = append(parts, ps)
			}
		}
		b.CAChainPEM = strings.Join(parts, "\n")
	}
	block, _ := pem.Decode([]byte(b.CertPEM))
	if block == nil {
		return Bundle{}, errors.New("vault: issued certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Bundle{}, fmt.Errorf("vault: issued certificate: %w", err)
	}
	b.NotAfter = cert.NotAfter
	return b, nil
}

// Revoke revokes a certificate by serial; the CRL is rebuilt at once.
func (c *Client) Revoke(ctx context.Context, serial string) error {
	_, err := c.write(ctx, PKIMount+"/revoke", map[string]any{"serial_number": serial})
	return err
}

// CAPool is the pool of the coalition's CA chain (intermediate and root):
// what a server trusts for client certificates, and a partner for the
// server's.
func (c *Client) CAPool(ctx context.Context) (*x509.CertPool, string, error) {
	s, err := c.read(ctx, PKIMount+"/cert/ca_chain")
	if err != nil {
		return nil, "", err
	}
	chain, _ := s.Data["ca_chain"].(string)
	if chain == "" {
		chain, _ = s.Data["certificate"].(string)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(chain)) {
		return nil, "", errors.New("vault: no CA certificate in the coalition's PKI")
	}
	return pool, chain, nil
}

// RevokedSerials reads the coalition CA's revocation list.
func (c *Client) RevokedSerials(ctx context.Context) (map[string]bool, error) {
	// The CRL is DER, not a JSON secret: read the raw response.
	resp, err := c.api.Logical().ReadRawWithContext(ctx, PKIMount+"/crl")
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read CRL: %w", err)
	}
	der, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("vault: read CRL: %w", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("vault: parse CRL: %w", err)
	}
	out := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		out[SerialString(e.SerialNumber.Bytes())] = true
	}
	return out, nil
}

// SerialString formats a certificate serial as Vault does: hex bytes
// separated by colons.
func SerialString(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, ":")
}

// HMAC computes a keyed hash with a transit key; the key never leaves Vault.
// Requests wait on it (phone lookups and enrolments, API key checks), so it
// has a short time of its own (SetHashTimeout) and is not retried: when
// Vault is away or hangs the error, wrapping ErrUnavailable, comes at once
// or within that time, not at the caller's deadline.
func (c *Client) HMAC(ctx context.Context, key string, data []byte) ([]byte, error) {
	call, cancel := context.WithTimeout(context.WithValue(ctx, noRetry{}, true), c.hashTimeout)
	defer cancel()
	s, err := c.write(call, TransitMount+"/hmac/"+key+"/sha2-256", map[string]any{
		"input": base64.StdEncoding.EncodeToString(data),
	})
	if err != nil {
		return nil, classify(ctx, err)
	}
	h, _ := s.Data["hmac"].(string)
	if h == "" {
		return nil, errors.New("vault: transit returned no hmac")
	}
	return []byte(h), nil
}

// PhoneHasher hashes phone numbers with the transit key phone-hash.
type PhoneHasher struct{ C *Client }

func (p PhoneHasher) HashPhone(ctx context.Context, e164 string) ([]byte, error) {
	return p.C.HMAC(ctx, PhoneHashKey, []byte(e164))
}
