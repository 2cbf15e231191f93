package main

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/wallet/apns"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
	"github.com/coalition-loyalty/coalition/coalition/wallet/keypem"
	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
)

// walletVaultCmds store the wallet credentials Apple and Google issue in
// Vault, after checking that they are what the server will need: a
// credential refused at the server's start is found here instead.
func walletVaultCmds(e *env) []*cobra.Command {
	noDB := func(*cobra.Command, []string) error { return nil }
	read := func(path, what string) ([]byte, error) {
		if path == "" {
			return nil, fmt.Errorf("--%s is required", what)
		}
		return os.ReadFile(path)
	}

	var certFile, keyFile, wwdrFile string
	apple := &cobra.Command{
		Use:   "put-wallet-apple",
		Short: "Store the Apple pass type certificate, its key and Apple's WWDR intermediate in Vault",
		Long: `put-wallet-apple stores the Pass Type ID certificate Apple issued (PEM), its
private key (PEM, unencrypted: Vault guards it) and the Apple WWDR
intermediate that issued the certificate (PEM), after checking that they
belong together. Restart coalitiond with --wallet-pass-type-id and
--wallet-team-id as printed.`,
		PersistentPreRunE: noDB,
		RunE: func(c *cobra.Command, _ []string) error {
			var files [3][]byte
			for i, f := range []struct{ path, flag string }{{certFile, "certificate"}, {keyFile, "key"}, {wwdrFile, "wwdr"}} {
				b, err := read(f.path, f.flag)
				if err != nil {
					return err
				}
				files[i] = b
			}
			cert, err := keypem.Certificate(files[0])
			if err != nil {
				return err
			}
			key, err := keypem.PrivateKey(files[1])
			if err != nil {
				return err
			}
			wwdr, err := keypem.Certificate(files[2])
			if err != nil {
				return err
			}
			passType, team := passTypeOf(cert)
			if _, err := pkpass.NewBuilder(pkpass.Config{PassTypeIdentifier: passType, TeamIdentifier: team,
				Certificate: cert, Key: key, WWDR: wwdr}); err != nil {
				return err
			}
			v, err := e.vault()
			if err != nil {
				return err
			}
			if err := v.PutAppleWallet(c.Context(), vault.AppleWallet{CertificatePEM: string(files[0]), KeyPEM: string(files[1]), WWDRPEM: string(files[2])}); err != nil {
				return err
			}
			fmt.Printf("stored the pass type certificate for %s (team %s), valid until %s\n  serve with --wallet-pass-type-id %s --wallet-team-id %s\n",
				passType, team, cert.NotAfter.Format("2006-01-02"), passType, team)
			return nil
		},
	}
	apple.Flags().StringVar(&certFile, "certificate", "", "the Pass Type ID certificate, PEM")
	apple.Flags().StringVar(&keyFile, "key", "", "its private key, PEM")
	apple.Flags().StringVar(&wwdrFile, "wwdr", "", "Apple's WWDR intermediate that issued the certificate, PEM")

	var p8File, keyID, teamID string
	push := &cobra.Command{
		Use:               "put-wallet-apns",
		Short:             "Store the APNs auth key (.p8) that wakes devices to fetch updated passes",
		PersistentPreRunE: noDB,
		RunE: func(c *cobra.Command, _ []string) error {
			p8, err := read(p8File, "key")
			if err != nil {
				return err
			}
			if _, err := apns.ParseKey(p8); err != nil {
				return err
			}
			if !appleID.MatchString(keyID) || !appleID.MatchString(teamID) {
				return errors.New("--key-id and --team-id are Apple's 10-character identifiers")
			}
			v, err := e.vault()
			if err != nil {
				return err
			}
			if err := v.PutAPNsKey(c.Context(), vault.APNsKey{KeyP8: string(p8), KeyID: keyID, TeamID: teamID}); err != nil {
				return err
			}
			fmt.Printf("stored the APNs key %s of team %s\n", keyID, teamID)
			return nil
		},
	}
	push.Flags().StringVar(&p8File, "key", "", "the APNs auth key file (AuthKey_XXXXXXXXXX.p8)")
	push.Flags().StringVar(&keyID, "key-id", "", "the key's id")
	push.Flags().StringVar(&teamID, "team-id", "", "the developer team the key belongs to (the pass type's team)")

	var saFile, issuerID string
	google := &cobra.Command{
		Use:               "put-wallet-google",
		Short:             "Store the Google Wallet issuer's service account key and issuer id",
		PersistentPreRunE: noDB,
		RunE: func(c *cobra.Command, _ []string) error {
			js, err := read(saFile, "service-account")
			if err != nil {
				return err
			}
			sa, err := googlewallet.ParseServiceAccount(js)
			if err != nil {
				return err
			}
			if _, err := googlewallet.ResourceID(issuerID, "check"); err != nil {
				return fmt.Errorf("--issuer-id: %w", err)
			}
			v, err := e.vault()
			if err != nil {
				return err
			}
			if err := v.PutGoogleWallet(c.Context(), vault.GoogleWallet{ServiceAccountJSON: string(js), IssuerID: issuerID}); err != nil {
				return err
			}
			fmt.Printf("stored the service account %s for issuer %s\n", sa.Email, issuerID)
			return nil
		},
	}
	google.Flags().StringVar(&saFile, "service-account", "", "the service account key file (JSON) Google issued")
	google.Flags().StringVar(&issuerID, "issuer-id", "", "the numeric issuer id from the Google Pay & Wallet console")
	return []*cobra.Command{apple, push, google}
}

var appleID = regexp.MustCompile(`^[A-Z0-9]{10}$`)

// passTypeOf reads the pass type identifier (UID) and team (OU) Apple
// writes into a Pass Type ID certificate's subject.
func passTypeOf(cert *x509.Certificate) (passType, team string) {
	uid := asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	for _, atv := range cert.Subject.Names {
		if atv.Type.Equal(uid) {
			passType, _ = atv.Value.(string)
		}
	}
	if ou := cert.Subject.OrganizationalUnit; len(ou) > 0 {
		team = ou[0]
	}
	return passType, team
}
