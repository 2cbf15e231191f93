package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/passes"
	"github.com/coalition-loyalty/coalition/coalition/passes/membercard"
	"github.com/coalition-loyalty/coalition/coalition/wallet/apns"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
	"github.com/coalition-loyalty/coalition/coalition/wallet/keypem"
	"github.com/coalition-loyalty/coalition/coalition/wallet/pkpass"
)

// WalletConfig says how the members' wallet passes reach Apple and Google.
// The credentials themselves (the pass type certificate, the APNs key, the
// Google service account) are read from Vault at start; without Vault, or
// without them, that wallet is off.
type WalletConfig struct {
	// PassTypeID ("pass.…") and TeamID name the Apple pass type; they must
	// match the certificate in Vault. Empty: no Apple Wallet.
	PassTypeID string
	TeamID     string
	// APNsURL is the APNs endpoint (apns.ProductionURL if empty);
	// APNsHTTPClient the client that reaches it (nil: the default).
	APNsURL        string
	APNsHTTPClient *http.Client
	// GoogleAPIURL and GoogleTokenURL are the walletobjects API and
	// Google's OAuth2 token endpoint (Google's if empty).
	GoogleAPIURL, GoogleTokenURL string
	GoogleHTTPClient             *http.Client
	// ExpiringDays: the daily job tells members of points expiring within
	// this many days (7 if zero).
	ExpiringDays int
	// OutboxInterval is how often the worker looks for pass updates to
	// deliver (5 s if zero; negative: no worker).
	OutboxInterval time.Duration
}

// Branding of the coalition's passes.
var passBranding = struct {
	fg, bg, label pkpass.RGB
	hex           string
}{pkpass.RGB{R: 255, G: 255, B: 255}, pkpass.RGB{R: 22, G: 55, B: 110}, pkpass.RGB{R: 200, G: 210, B: 230}, "#16376e"}

// buildWallet sets up the wallet passes from the credentials in Vault. It
// runs once the public URL is known: the passes' web service and the
// Google class's logo are under it.
func (s *Server) buildWallet(ctx context.Context) error {
	w := s.cfg.Wallet
	if s.sec == nil {
		s.log.Info("wallet passes are off: their credentials are kept in Vault")
		return nil
	}
	secrets, err := s.sec.client.WalletSecrets(ctx)
	if err != nil {
		return fmt.Errorf("wallet credentials: %w (has `coalitionctl vault bootstrap` run?)", err)
	}
	if secrets.Apple == nil && secrets.Google == nil {
		s.log.Info("wallet passes are off: no wallet credentials in Vault (coalitionctl vault put-wallet-…)")
		return nil
	}
	terms, err := s.ledger.Terms(ctx)
	if err != nil {
		return err
	}
	zone, err := time.LoadLocation(terms.TimeZone)
	if err != nil {
		return fmt.Errorf("coalition time zone: %w", err)
	}
	cfg := passes.Config{
		Tx: s.tx, Cards: membercard.Source{Ledger: s.ledger, Partners: s.partners, Offers: s.offers},
		Branding: passes.Branding{Name: terms.Name, Foreground: passBranding.fg, Background: passBranding.bg, Label: passBranding.label},
		Zone:     zone, Clock: s.cfg.Now, Log: s.log, Rules: s.rules,
	}
	switch {
	case secrets.Apple == nil:
		s.log.Info("Apple Wallet is off: no pass type certificate in Vault")
	case w.PassTypeID == "" || w.TeamID == "":
		s.log.Info("Apple Wallet is off: no pass type id and team id given")
	default:
		if cfg.Apple, err = s.appleWallet(secrets.Apple.CertificatePEM, secrets.Apple.KeyPEM, secrets.Apple.WWDRPEM); err != nil {
			return err
		}
		if secrets.APNs == nil {
			s.log.Info("no APNs key in Vault: pass updates are not pushed to devices (they show at the next fetch)")
		} else if cfg.Apple.Push, err = s.apnsClient(secrets.APNs.KeyP8, secrets.APNs.KeyID, secrets.APNs.TeamID); err != nil {
			return err
		}
	}
	if secrets.Google != nil {
		sa, err := googlewallet.ParseServiceAccount([]byte(secrets.Google.ServiceAccountJSON))
		if err != nil {
			return fmt.Errorf("google wallet credentials in Vault: %w", err)
		}
		cfg.Google = &passes.Google{
			Program: googlewallet.Program{IssuerID: secrets.Google.IssuerID, ClassSuffix: "loyalty",
				IssuerName: terms.Name, ProgramName: terms.Name, LogoURL: s.publicURL + "/wallet/logo.png", BackgroundColor: passBranding.hex},
			Account: sa, Origins: []string{s.publicURL},
		}
		// Dev mode's service account is unknown to Google: its save links
		// carry the whole object, and nothing is sent to the API.
		if secrets.Google.IssuerID == vault.DevGoogleIssuerID {
			s.log.Info("dev Google Wallet credentials: no Google API calls")
		} else {
			if cfg.Google.API, err = googlewallet.New(googlewallet.Config{BaseURL: w.GoogleAPIURL, TokenURL: w.GoogleTokenURL,
				HTTPClient: w.GoogleHTTPClient, Account: sa, Clock: s.cfg.CredentialClock}); err != nil {
				return err
			}
		}
	}
	s.passes, err = passes.New(cfg)
	if err == nil && (s.passes.AppleOn() || s.passes.GoogleOn()) {
		s.ledger.EnablePassEvents()
	}
	return err
}

// appleWallet builds passes with the pass type certificate from Vault,
// signed by the real time (the certificate's validity is the real
// world's), served from the public URL's web service when it is https
// (Wallet talks to nothing else).
func (s *Server) appleWallet(certPEM, keyPEM, wwdrPEM string) (*passes.Apple, error) {
	w := s.cfg.Wallet
	cert, err := keypem.Certificate([]byte(certPEM))
	if err != nil {
		return nil, fmt.Errorf("pass type certificate in Vault: %w", err)
	}
	key, err := keypem.PrivateKey([]byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("pass type key in Vault: %w", err)
	}
	wwdr, err := keypem.Certificate([]byte(wwdrPEM))
	if err != nil {
		return nil, fmt.Errorf("WWDR intermediate in Vault: %w", err)
	}
	b, err := pkpass.NewBuilder(pkpass.Config{PassTypeIdentifier: w.PassTypeID, TeamIdentifier: w.TeamID,
		Certificate: cert, Key: key, WWDR: wwdr, Clock: s.cfg.CredentialClock})
	if err != nil {
		return nil, err
	}
	a := &passes.Apple{Builder: b, PassTypeIdentifier: w.PassTypeID}
	if strings.HasPrefix(s.publicURL, "https://") {
		a.WebServiceURL = s.publicURL + "/wallet/apple"
	} else {
		s.log.Info("the public URL is not https: Apple Wallet passes carry no web service and are not updated", "public_url", s.publicURL)
	}
	return a, nil
}

func (s *Server) apnsClient(p8, keyID, teamID string) (*apns.Client, error) {
	key, err := apns.ParseKey([]byte(p8))
	if err != nil {
		return nil, fmt.Errorf("APNs key in Vault: %w", err)
	}
	return apns.New(apns.Config{BaseURL: s.cfg.Wallet.APNsURL, HTTPClient: s.cfg.Wallet.APNsHTTPClient,
		TeamID: teamID, KeyID: keyID, Key: key, Topic: s.cfg.Wallet.PassTypeID, Clock: s.cfg.CredentialClock})
}

// Passes is the wallet pass service (nil: no wallet is configured).
func (s *Server) Passes() *passes.Service { return s.passes }

func (w WalletConfig) withDefaults() WalletConfig {
	if w.ExpiringDays <= 0 {
		w.ExpiringDays = 7
	}
	if w.OutboxInterval == 0 {
		w.OutboxInterval = 5 * time.Second
	}
	return w
}

// passOutboxInterval is how often the pass outbox is delivered (0: never,
// without passes).
func (s *Server) passOutboxInterval() time.Duration {
	if s.passes == nil {
		return 0
	}
	return s.cfg.Wallet.OutboxInterval
}

// passDailyInterval runs the passes' daily job with the other daily work.
func (s *Server) passDailyInterval() time.Duration {
	if s.passes == nil {
		return 0
	}
	return s.cfg.MaintenanceInterval
}

func (s *Server) passDaily(ctx context.Context) {
	s.passes.Daily(ctx, time.Duration(s.cfg.Wallet.ExpiringDays)*24*time.Hour)
}
