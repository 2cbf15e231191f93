// Package pkpass builds a coalition member's Apple Wallet store card: a
// signed .pkpass archive whose pass.json shows the points balance, tier,
// partners and expiring points, and whose web service entries let Wallet
// fetch a fresh pass after each change. It holds no keys and reads nothing
// from disk: the pass type certificate, its key and Apple's WWDR
// intermediate are handed in (from Vault), and time comes from the caller's
// clock.
package pkpass

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
)

// ContentType is the media type a .pkpass must be served with; Safari and
// Mail offer "Add to Wallet" only for it.
const ContentType = "application/vnd.apple.pkpass"

// Config is what stays the same for every pass the coalition issues.
type Config struct {
	// PassTypeIdentifier ("pass.…") and TeamIdentifier must match the
	// certificate: Wallet silently refuses a pass whose identifiers and
	// signer disagree.
	PassTypeIdentifier string
	TeamIdentifier     string
	// Certificate is the Pass Type ID certificate and Key its private key.
	Certificate *x509.Certificate
	Key         crypto.Signer
	// WWDR is the Apple Worldwide Developer Relations intermediate that
	// issued Certificate. It goes into the signature because devices do not
	// carry it.
	WWDR *x509.Certificate
	// Clock gives the signing time; time.Now if nil.
	Clock func() time.Time
}

// Builder signs passes. Safe for concurrent use.
type Builder struct {
	cfg Config
}

// oidUserID is the UID attribute under which Apple writes the pass type
// identifier into a Pass Type ID certificate's subject.
var oidUserID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// NewBuilder checks that cfg's certificate, key, intermediate and identifiers
// belong together, because a mismatch yields a pass that Wallet drops
// without saying why.
func NewBuilder(cfg Config) (*Builder, error) {
	switch {
	case !strings.HasPrefix(cfg.PassTypeIdentifier, "pass.") || cfg.PassTypeIdentifier == "pass.":
		return nil, fmt.Errorf("pkpass: pass type identifier %q does not start with \"pass.\"", cfg.PassTypeIdentifier)
	case cfg.TeamIdentifier == "":
		return nil, errors.New("pkpass: team identifier is empty")
	case cfg.Certificate == nil || cfg.Key == nil || cfg.WWDR == nil:
		return nil, errors.New("pkpass: certificate, key and WWDR intermediate are all required")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := cfg.Key.Public().(equaler); !ok || !pub.Equal(cfg.Certificate.PublicKey) {
		return nil, errors.New("pkpass: key does not match the pass type certificate")
	}
	if _, err := signatureAlgorithm(cfg.Key); err != nil {
		return nil, err
	}
	if err := cfg.Certificate.CheckSignatureFrom(cfg.WWDR); err != nil {
		return nil, fmt.Errorf("pkpass: pass type certificate was not issued by the given WWDR intermediate (wrong generation?): %w", err)
	}
	if uid := subjectAttr(cfg.Certificate.Subject, oidUserID); uid != "" && uid != cfg.PassTypeIdentifier {
		return nil, fmt.Errorf("pkpass: certificate is for %q, not %q", uid, cfg.PassTypeIdentifier)
	}
	if ou := cfg.Certificate.Subject.OrganizationalUnit; len(ou) > 0 && !slices.Contains(ou, cfg.TeamIdentifier) {
		return nil, fmt.Errorf("pkpass: certificate belongs to team %q, not %q", ou[0], cfg.TeamIdentifier)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Builder{cfg: cfg}, nil
}

func subjectAttr(name pkix.Name, oid asn1.ObjectIdentifier) string {
	for _, atv := range name.Names {
		if atv.Type.Equal(oid) {
			if s, ok := atv.Value.(string); ok {
				return s
			}
		}
	}
	return ""
}

// Build returns the signed .pkpass archive (serve it as ContentType). Invalid
// input is a *coalition.Error of class Invalid.
func (b *Builder) Build(p Pass) ([]byte, error) {
	now := b.cfg.Clock()
	if now.Before(b.cfg.Certificate.NotBefore) || now.After(b.cfg.Certificate.NotAfter) {
		return nil, fmt.Errorf("pkpass: pass type certificate is valid from %s to %s, not at %s",
			b.cfg.Certificate.NotBefore.Format(time.RFC3339), b.cfg.Certificate.NotAfter.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	passJSON, err := b.passJSON(p)
	if err != nil {
		return nil, err
	}
	files, err := images(p)
	if err != nil {
		return nil, err
	}
	files["pass.json"] = passJSON

	digests := make(map[string]string, len(files))
	for name, data := range files {
		sum := sha1.Sum(data) // Apple's manifest format is SHA-1; the signature over it is SHA-256.
		digests[name] = hex.EncodeToString(sum[:])
	}
	manifest, err := json.Marshal(digests) // keys sorted, so the manifest is stable
	if err != nil {
		return nil, fmt.Errorf("pkpass: manifest: %w", err)
	}
	signature, err := signDetached(manifest, b.cfg.Certificate, b.cfg.Key, []*x509.Certificate{b.cfg.WWDR}, now)
	if err != nil {
		return nil, fmt.Errorf("pkpass: sign manifest: %w", err)
	}
	files["manifest.json"] = manifest
	files["signature"] = signature

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		// The clock's time, not the file system's, so that the same pass
		// signed at the same instant is the same archive.
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: now.UTC()})
		if err != nil {
			return nil, fmt.Errorf("pkpass: zip %s: %w", name, err)
		}
		if _, err := w.Write(files[name]); err != nil {
			return nil, fmt.Errorf("pkpass: zip %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pkpass: zip: %w", err)
	}
	return buf.Bytes(), nil
}

func invalid(field, format string, args ...any) error {
	return coalition.Errorf(coalition.Invalid, field, format, args...)
}
