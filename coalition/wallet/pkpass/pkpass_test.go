package pkpass_test

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"maps"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
)

const (
	passTypeID = "pass.org.coalition.test"
	teamID     = "ABCDE12345"
)

var signedAt = time.Date(2026, 3, 1, 12, 30, 45, 0, time.UTC)

// testCA is root → "WWDR-like" intermediate → Pass Type ID leaf, the shape
// of Apple's chain, made afresh for the test.
type testCA struct {
	root, wwdr, leaf *x509.Certificate
	leafKey          crypto.Signer
}

func newTestCA(t *testing.T, leafKey crypto.Signer) testCA {
	t.Helper()
	rootKey := mustECKey(t)
	wwdrKey := mustECKey(t)
	notBefore, notAfter := signedAt.AddDate(0, -2, 0), signedAt.AddDate(1, 0, 0)
	root := mustCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root CA"},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, nil, rootKey.Public(), rootKey)
	wwdr := mustCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test Worldwide Developer Relations", OrganizationalUnit: []string{"G4"}},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}, root, wwdrKey.Public(), rootKey)
	leaf := mustCert(t, &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject: pkix.Name{
			CommonName: "Pass Type ID: " + passTypeID, OrganizationalUnit: []string{teamID}, Organization: []string{"Coalition Test"},
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: passTypeID}},
		},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
	}, wwdr, leafKey.Public(), wwdrKey)
	return testCA{root: root, wwdr: wwdr, leaf: leaf, leafKey: leafKey}
}

func mustECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCert(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (ca testCA) builder(t *testing.T) *pkpass.Builder {
	t.Helper()
	b, err := pkpass.NewBuilder(pkpass.Config{
		PassTypeIdentifier: passTypeID, TeamIdentifier: teamID,
		Certificate: ca.leaf, Key: ca.leafKey, WWDR: ca.wwdr,
		Clock: func() time.Time { return signedAt },
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func samplePass() pkpass.Pass {
	return pkpass.Pass{
		SerialNumber:        "0190f3c2-7a4e-7c1d-9f00-0123456789ab",
		AuthenticationToken: "tok_0123456789abcdef",
		WebServiceURL:       "https://wallet.coalition.example/apple",
		CardNumber:          "7700000000000008",
		MemberName:          "Ada L.",
		Balance:             1325,
		Tier:                "Gold",
		Partners:            []string{"Coffee Corner", "Fish & Chips Co", "Bookshop 100%"},
		Expiring: []pkpass.Expiry{
			{Points: 40, On: time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("CET", 3600))},
			{Points: 120, On: time.Date(2026, 6, 30, 23, 59, 59, 0, time.FixedZone("CET", 3600))},
		},
		LastChange:       "+75 points at Coffee Corner",
		OrganizationName: "Coalition Rewards",
		Description:      "Coalition Rewards loyalty card",
		LogoText:         "Coalition",
		Foreground:       pkpass.RGB{255, 255, 255},
		Background:       pkpass.RGB{22, 55, 110},
		Label:            pkpass.RGB{200, 210, 230},
	}
}

func unzip(t *testing.T, archive []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatalf("archive does not unzip: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = data
	}
	return files
}

// checkManifest is what Wallet does before it trusts any file: every file
// but the manifest and signature is listed with its SHA-1, and nothing else is.
func checkManifest(files map[string][]byte) error {
	var manifest map[string]string
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	for name, data := range files {
		if name == "manifest.json" || name == "signature" {
			continue
		}
		sum := sha1.Sum(data)
		if got := hex.EncodeToString(sum[:]); manifest[name] != got {
			return fmt.Errorf("%s: manifest says %q, file hashes to %q", name, manifest[name], got)
		}
	}
	for name := range manifest {
		if _, ok := files[name]; !ok {
			return fmt.Errorf("manifest lists %s, which is not in the archive", name)
		}
	}
	return nil
}

func TestBuildSignsAPassThatOpenSSLVerifiesAgainstTheRoot(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func(*testing.T) crypto.Signer
	}{
		{"RSA leaf, as Apple issues", func(t *testing.T) crypto.Signer { return mustRSAKey(t) }},
		{"ECDSA leaf", func(t *testing.T) crypto.Signer { return mustECKey(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := newTestCA(t, tc.key(t))
			archive, err := ca.builder(t).Build(samplePass())
			if err != nil {
				t.Fatal(err)
			}
			files := unzip(t, archive)
			want := []string{"icon.png", "icon@2x.png", "logo.png", "manifest.json", "pass.json", "signature"}
			if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
				t.Fatalf("archive holds %v, want %v", got, want)
			}
			if err := checkManifest(files); err != nil {
				t.Fatal(err)
			}
			verifyInGo(t, files["signature"], files["manifest.json"], ca.leaf)
			if err := opensslVerify(t, ca, files["signature"], files["manifest.json"]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTamperingIsCaughtByTheManifestAndTheSignature(t *testing.T) {
	ca := newTestCA(t, mustRSAKey(t))
	archive, err := ca.builder(t).Build(samplePass())
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, archive)
	files["pass.json"] = bytes.Replace(files["pass.json"], []byte("1325"), []byte("9325"), 1)
	if err := checkManifest(files); err == nil || !strings.Contains(err.Error(), "pass.json") {
		t.Fatalf("edited pass.json passed the digest check (err = %v)", err)
	}
	// Re-hashing the edit into the manifest is what a forger would try next.
	var manifest map[string]string
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(files["pass.json"])
	manifest["pass.json"] = hex.EncodeToString(sum[:])
	forged, _ := json.Marshal(manifest)
	if err := opensslVerify(t, ca, files["signature"], forged); err == nil || !strings.Contains(err.Error(), "digest failure") {
		t.Fatalf("openssl on a forged manifest: err = %v, want a digest failure", err)
	}
}

func TestSameInputAndClockGiveTheSameArchive(t *testing.T) {
	ca := newTestCA(t, mustRSAKey(t)) // RSA PKCS #1 v1.5 signatures are deterministic
	b := ca.builder(t)
	first, err := b.Build(samplePass())
	if err != nil {
		t.Fatal(err)
	}
	second, err := b.Build(samplePass())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Fatal("two builds of the same pass at the same instant differ")
	}
}

// applePass mirrors the keys of Apple's pass.json reference that a store
// card uses, with the documented JSON types.
type applePass struct {
	FormatVersion       *int            `json:"formatVersion"`
	PassTypeIdentifier  string          `json:"passTypeIdentifier"`
	SerialNumber        string          `json:"serialNumber"`
	TeamIdentifier      string          `json:"teamIdentifier"`
	OrganizationName    string          `json:"organizationName"`
	Description         string          `json:"description"`
	LogoText            string          `json:"logoText"`
	ForegroundColor     string          `json:"foregroundColor"`
	BackgroundColor     string          `json:"backgroundColor"`
	LabelColor          string          `json:"labelColor"`
	WebServiceURL       string          `json:"webServiceURL"`
	AuthenticationToken string          `json:"authenticationToken"`
	SharingProhibited   *bool           `json:"sharingProhibited"`
	Barcodes            []appleBarcode  `json:"barcodes"`
	StoreCard           *appleStoreCard `json:"storeCard"`
}

type appleBarcode struct {
	Format          string `json:"format"`
	Message         string `json:"message"`
	MessageEncoding string `json:"messageEncoding"`
	AltText         string `json:"altText"`
}

type appleStoreCard struct {
	HeaderFields    []appleField `json:"headerFields"`
	PrimaryFields   []appleField `json:"primaryFields"`
	SecondaryFields []appleField `json:"secondaryFields"`
	AuxiliaryFields []appleField `json:"auxiliaryFields"`
	BackFields      []appleField `json:"backFields"`
}

type appleField struct {
	Key             string          `json:"key"`
	Label           string          `json:"label"`
	Value           json.RawMessage `json:"value"`
	ChangeMessage   string          `json:"changeMessage"`
	NumberStyle     string          `json:"numberStyle"`
	DateStyle       string          `json:"dateStyle"`
	TimeStyle       string          `json:"timeStyle"`
	IgnoresTimeZone bool            `json:"ignoresTimeZone"`
}

// documentedTopLevel is every top-level key of Apple's pass.json reference;
// a key outside it would be a typo Wallet ignores without a word.
var documentedTopLevel = []string{
	"accessibilityURL", "addOnURL", "appLaunchURL", "associatedStoreIdentifiers", "authenticationToken",
	"backgroundColor", "barcode", "barcodes", "beacons", "boardingPass", "coupon", "description",
	"eventTicket", "expirationDate", "foregroundColor", "formatVersion", "generic", "groupingIdentifier",
	"labelColor", "locations", "logoText", "maxDistance", "nfc", "organizationName", "passTypeIdentifier",
	"relevantDate", "relevantDates", "semantics", "serialNumber", "sharingProhibited", "storeCard",
	"suppressStripShine", "teamIdentifier", "userInfo", "voided", "webServiceURL",
}

func TestPassJSONHasApplesKeysAndTypes(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	p := samplePass()
	archive, err := ca.builder(t).Build(p)
	if err != nil {
		t.Fatal(err)
	}
	raw := unzip(t, archive)["pass.json"]

	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	for k := range top {
		if !slices.Contains(documentedTopLevel, k) {
			t.Errorf("pass.json has undocumented key %q", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var got applePass
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("pass.json does not decode with Apple's key names and types: %v", err)
	}

	if got.FormatVersion == nil || *got.FormatVersion != 1 {
		t.Errorf("formatVersion = %v, want 1", got.FormatVersion)
	}
	for key, v := range map[string]string{
		"passTypeIdentifier": got.PassTypeIdentifier, "serialNumber": got.SerialNumber, "teamIdentifier": got.TeamIdentifier,
		"organizationName": got.OrganizationName, "description": got.Description,
	} {
		if v == "" {
			t.Errorf("required key %s is missing or empty", key)
		}
	}
	if got.PassTypeIdentifier != passTypeID || got.TeamIdentifier != teamID || got.SerialNumber != p.SerialNumber {
		t.Errorf("identifiers = %q %q %q", got.PassTypeIdentifier, got.TeamIdentifier, got.SerialNumber)
	}
	colour := regexp.MustCompile(`^rgb\((\d{1,3}), (\d{1,3}), (\d{1,3})\)$`)
	for key, v := range map[string]string{"foregroundColor": got.ForegroundColor, "backgroundColor": got.BackgroundColor, "labelColor": got.LabelColor} {
		m := colour.FindStringSubmatch(v)
		if m == nil {
			t.Errorf("%s = %q, not rgb(r, g, b)", key, v)
			continue
		}
		for _, c := range m[1:] {
			if n, _ := strconv.Atoi(c); n > 255 {
				t.Errorf("%s = %q: component above 255", key, v)
			}
		}
	}
	if got.BackgroundColor != "rgb(22, 55, 110)" {
		t.Errorf("backgroundColor = %q", got.BackgroundColor)
	}
	if !strings.HasPrefix(got.WebServiceURL, "https://") || len(got.AuthenticationToken) < 16 {
		t.Errorf("webServiceURL %q / authenticationToken %q do not meet Apple's rules", got.WebServiceURL, got.AuthenticationToken)
	}

	if len(got.Barcodes) != 1 {
		t.Fatalf("barcodes = %+v, want one", got.Barcodes)
	}
	bc := got.Barcodes[0]
	validFormats := []string{"PKBarcodeFormatQR", "PKBarcodeFormatPDF417", "PKBarcodeFormatAztec", "PKBarcodeFormatCode128"}
	if !slices.Contains(validFormats, bc.Format) || bc.Format != "PKBarcodeFormatQR" {
		t.Errorf("barcode format = %q", bc.Format)
	}
	if bc.Message != p.CardNumber || bc.MessageEncoding != "iso-8859-1" || bc.AltText != "7700 0000 0000 0008" {
		t.Errorf("barcode = %+v", bc)
	}

	sc := got.StoreCard
	if sc == nil || len(sc.PrimaryFields) != 1 {
		t.Fatalf("storeCard = %+v, want one primary field", sc)
	}
	seen := map[string]bool{}
	all := slices.Concat(sc.HeaderFields, sc.PrimaryFields, sc.SecondaryFields, sc.AuxiliaryFields, sc.BackFields)
	for _, f := range all {
		if f.Key == "" || len(f.Value) == 0 {
			t.Errorf("field %+v lacks key or value", f)
		}
		if seen[f.Key] {
			t.Errorf("field key %q is not unique", f.Key)
		}
		seen[f.Key] = true
		if f.ChangeMessage != "" && !strings.Contains(f.ChangeMessage, "%@") {
			t.Errorf("field %s changeMessage %q lacks %%@", f.Key, f.ChangeMessage)
		}
	}

	balance := sc.PrimaryFields[0]
	var n int64
	if err := json.Unmarshal(balance.Value, &n); err != nil || n != 1325 {
		t.Errorf("balance value = %s, want the number 1325", balance.Value)
	}
	if want := "+75 points at Coffee Corner. Balance: %@"; balance.ChangeMessage != want {
		t.Errorf("balance changeMessage = %q, want %q", balance.ChangeMessage, want)
	}
	if len(sc.SecondaryFields) != 1 || string(sc.SecondaryFields[0].Value) != `"Gold"` {
		t.Errorf("secondaryFields = %+v, want the tier", sc.SecondaryFields)
	}

	back := map[string]appleField{}
	for _, f := range sc.BackFields {
		back[f.Key] = f
	}
	if v := string(back["partners"].Value); v != `"Coffee Corner\nFish & Chips Co\nBookshop 100%"` {
		t.Errorf("partners back field = %s", v)
	}
	// Expiring lots come soonest first, as dates Wallet formats itself.
	if e := back["expiry1"]; e.Label != "120 points expire" || string(e.Value) != `"2026-06-30T23:59:59+01:00"` || e.DateStyle == "" || !e.IgnoresTimeZone {
		t.Errorf("expiry1 = %+v", e)
	}
	if e := back["expiry2"]; e.Label != "40 points expire" {
		t.Errorf("expiry2 = %+v", e)
	}
}

func TestChangeMessageEscapesPercentSignsOfTheChangeText(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	p := samplePass()
	p.LastChange = "+10% bonus at Coffee Corner"
	archive, err := ca.builder(t).Build(p)
	if err != nil {
		t.Fatal(err)
	}
	var got applePass
	if err := json.Unmarshal(unzip(t, archive)["pass.json"], &got); err != nil {
		t.Fatal(err)
	}
	if want := "+10%% bonus at Coffee Corner. Balance: %@"; got.StoreCard.PrimaryFields[0].ChangeMessage != want {
		t.Errorf("changeMessage = %q, want %q", got.StoreCard.PrimaryFields[0].ChangeMessage, want)
	}
}

func TestBuildRefusesPassesWalletWouldReject(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	b := ca.builder(t)
	icon := mustPNG(t)
	for _, tc := range []struct {
		name  string
		edit  func(*pkpass.Pass)
		field string
	}{
		{"authentication token under 16 characters", func(p *pkpass.Pass) { p.AuthenticationToken = "short" }, "authentication_token"},
		{"web service over plain http", func(p *pkpass.Pass) { p.WebServiceURL = "http://wallet.example/apple" }, "web_service_url"},
		{"card number failing the Luhn check", func(p *pkpass.Pass) { p.CardNumber = "7700000000000004" }, "card_number"},
		{"serial number with a slash", func(p *pkpass.Pass) { p.SerialNumber = "a/b" }, "serial_number"},
		{"no description", func(p *pkpass.Pass) { p.Description = "" }, "description"},
		{"text the colour of the background", func(p *pkpass.Pass) { p.Foreground = p.Background }, "foreground"},
		{"images without icon.png", func(p *pkpass.Pass) { p.Images = map[string][]byte{} }, "images"},
		{"an image a store card cannot have", func(p *pkpass.Pass) {
			p.Images = map[string][]byte{"icon.png": icon, "thumbnail.png": icon}
		}, "images"},
		{"expiring lot without points", func(p *pkpass.Pass) { p.Expiring = []pkpass.Expiry{{On: signedAt}} }, "expiring[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := samplePass()
			tc.edit(&p)
			_, err := b.Build(p)
			e, ok := coalition.AsError(err)
			if !ok || e.Code != coalition.Invalid || e.Field != tc.field {
				t.Fatalf("err = %v, want Invalid on %s", err, tc.field)
			}
		})
	}
}

func TestBuildUsesGivenImages(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	p := samplePass()
	icon := mustPNG(t)
	p.Images = map[string][]byte{"icon.png": icon, "strip@2x.png": mustPNG(t)}
	archive, err := ca.builder(t).Build(p)
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, archive)
	if !bytes.Equal(files["icon.png"], icon) || files["strip@2x.png"] == nil || files["logo.png"] != nil {
		t.Fatalf("archive images = %v", slices.Sorted(maps.Keys(files)))
	}
	if err := checkManifest(files); err != nil {
		t.Fatal(err)
	}
}

func mustPNG(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 29, 29))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestNewBuilderRefusesMismatchedCredentials(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	other := newTestCA(t, mustECKey(t))
	base := pkpass.Config{PassTypeIdentifier: passTypeID, TeamIdentifier: teamID, Certificate: ca.leaf, Key: ca.leafKey, WWDR: ca.wwdr}
	for _, tc := range []struct {
		name string
		edit func(*pkpass.Config)
		want string
	}{
		{"key of another certificate", func(c *pkpass.Config) { c.Key = other.leafKey }, "key does not match"},
		{"intermediate that did not issue the certificate", func(c *pkpass.Config) { c.WWDR = other.wwdr }, "not issued by"},
		{"pass type identifier not in the certificate", func(c *pkpass.Config) { c.PassTypeIdentifier = "pass.org.other" }, "certificate is for"},
		{"team not in the certificate", func(c *pkpass.Config) { c.TeamIdentifier = "ZZZZZ99999" }, "belongs to team"},
		{"identifier without pass. prefix", func(c *pkpass.Config) { c.PassTypeIdentifier = "org.coalition" }, "does not start"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			_, err := pkpass.NewBuilder(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestBuildRefusesToSignOutsideTheCertificatesValidity(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	b, err := pkpass.NewBuilder(pkpass.Config{
		PassTypeIdentifier: passTypeID, TeamIdentifier: teamID, Certificate: ca.leaf, Key: ca.leafKey, WWDR: ca.wwdr,
		Clock: func() time.Time { return ca.leaf.NotAfter.Add(time.Second) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(samplePass()); err == nil || !strings.Contains(err.Error(), "valid from") {
		t.Fatalf("err = %v, want the certificate's validity", err)
	}
}

// opensslVerify checks the signature as an outsider would: openssl builds
// the path leaf → intermediate (from the signature) → root (trusted), at the
// signing instant rather than the wall clock.
func opensslVerify(t *testing.T, ca testCA, signature, manifest []byte) error {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; the Go-side verification still ran")
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	sig := write("signature", signature)
	man := write("manifest.json", manifest)
	caFile := write("testca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.root.Raw}))
	out, err := exec.Command(bin, "smime", "-verify", "-binary", "-inform", "DER",
		"-in", sig, "-content", man, "-CAfile", caFile, "-purpose", "any",
		"-attime", strconv.FormatInt(signedAt.Unix(), 10), "-out", os.DevNull).CombinedOutput()
	if err != nil {
		return fmt.Errorf("openssl smime -verify: %v\n%s", err, out)
	}
	return nil
}

// verifyInGo reads the CMS structure back and checks what Wallet relies on:
// the signed attributes carry the manifest's digest and the clock's time,
// and the leaf's key signed them.
func verifyInGo(t *testing.T, signature, manifest []byte, leaf *x509.Certificate) {
	t.Helper()
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(signature, &ci); err != nil {
		t.Fatalf("signature is not a ContentInfo: %v", err)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		EncapContentInfo struct {
			EContentType asn1.ObjectIdentifier
			EContent     asn1.RawValue `asn1:"optional,explicit,tag:0"`
		}
		Certificates asn1.RawValue `asn1:"optional,tag:0"`
		SignerInfos  []struct {
			Version            int
			SID                asn1.RawValue
			DigestAlgorithm    pkix.AlgorithmIdentifier
			SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
			SignatureAlgorithm pkix.AlgorithmIdentifier
			Signature          []byte
		} `asn1:"set"`
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		t.Fatalf("content is not a SignedData: %v", err)
	}
	if len(sd.EncapContentInfo.EContent.Bytes) != 0 {
		t.Error("signature embeds the content; it must be detached")
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil || len(certs) != 2 || !certs[0].Equal(leaf) {
		t.Fatalf("certificates = %d (%v), want leaf and intermediate", len(certs), err)
	}
	if len(sd.SignerInfos) != 1 {
		t.Fatalf("%d signer infos", len(sd.SignerInfos))
	}
	si := sd.SignerInfos[0]
	rest := si.SignedAttrs.Bytes
	var digest []byte
	var at time.Time
	var contentType asn1.ObjectIdentifier
	for len(rest) > 0 {
		var a struct {
			Type   asn1.ObjectIdentifier
			Values []asn1.RawValue `asn1:"set"`
		}
		var err error
		if rest, err = asn1.Unmarshal(rest, &a); err != nil {
			t.Fatal(err)
		}
		switch a.Type.String() {
		case "1.2.840.113549.1.9.3":
			_, err = asn1.Unmarshal(a.Values[0].FullBytes, &contentType)
		case "1.2.840.113549.1.9.4":
			_, err = asn1.Unmarshal(a.Values[0].FullBytes, &digest)
		case "1.2.840.113549.1.9.5":
			_, err = asn1.Unmarshal(a.Values[0].FullBytes, &at)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := sha256.Sum256(manifest); !bytes.Equal(digest, want[:]) {
		t.Error("message-digest attribute is not the manifest's SHA-256")
	}
	if !at.Equal(signedAt) {
		t.Errorf("signing time = %v, want the clock's %v", at, signedAt)
	}
	if contentType.String() != "1.2.840.113549.1.7.1" {
		t.Errorf("content-type attribute = %v, want id-data", contentType)
	}
	signed := append([]byte{0x31}, si.SignedAttrs.FullBytes[1:]...) // [0] IMPLICIT → SET
	sum := sha256.Sum256(signed)
	switch pub := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], si.Signature)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, sum[:], si.Signature) {
			err = errors.New("ECDSA signature does not verify")
		}
	}
	if err != nil {
		t.Fatalf("signature over the signed attributes: %v", err)
	}
}

// The till scans what the member page's QR code holds (the member's QR
// token); the card number stays under the code for a cashier to key in.
func TestBarcodeHoldsTheGivenMessageWithTheCardNumberAsItsText(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	p := samplePass()
	p.BarcodeMessage = "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4"
	archive, err := ca.builder(t).Build(p)
	if err != nil {
		t.Fatal(err)
	}
	var got applePass
	if err := json.Unmarshal(unzip(t, archive)["pass.json"], &got); err != nil {
		t.Fatal(err)
	}
	if bc := got.Barcodes[0]; bc.Message != p.BarcodeMessage || bc.AltText != "7700 0000 0000 0008" {
		t.Errorf("barcode = %+v", bc)
	}
}

// A member who turned notifications off gets the new pass without a word
// on the lock screen: no field carries a change message.
func TestSilentPassHasNoChangeMessages(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	p := samplePass()
	p.Silent = true
	p.News = "120 points expire by 31 Mar 2026"
	archive, err := ca.builder(t).Build(p)
	if err != nil {
		t.Fatal(err)
	}
	if data := unzip(t, archive)["pass.json"]; bytes.Contains(data, []byte("changeMessage")) {
		t.Errorf("a silent pass has change messages:\n%s", data)
	}
}

// Without a web service (dev mode over plain HTTP) the pass carries
// neither the URL nor a token, which Apple allows only together.
func TestPassWithoutAWebServiceCarriesNoToken(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	p := samplePass()
	p.WebServiceURL = ""
	archive, err := ca.builder(t).Build(p)
	if err != nil {
		t.Fatal(err)
	}
	data := unzip(t, archive)["pass.json"]
	if bytes.Contains(data, []byte("webServiceURL")) || bytes.Contains(data, []byte("authenticationToken")) {
		t.Errorf("a pass without a web service names one:\n%s", data)
	}
}

// A notice that changes no number reaches the lock screen through a back
// field whose change message is the notice itself.
func TestNewsIsABackFieldWalletAnnounces(t *testing.T) {
	ca := newTestCA(t, mustECKey(t))
	p := samplePass()
	p.News = "120 points expire by 31 Mar 2026"
	archive, err := ca.builder(t).Build(p)
	if err != nil {
		t.Fatal(err)
	}
	var got applePass
	if err := json.Unmarshal(unzip(t, archive)["pass.json"], &got); err != nil {
		t.Fatal(err)
	}
	for _, f := range got.StoreCard.BackFields {
		if f.Key == "news" {
			if string(f.Value) != `"`+p.News+`"` || f.ChangeMessage != "%@" {
				t.Fatalf("news field = %+v", f)
			}
			return
		}
	}
	t.Fatal("no news back field")
}
