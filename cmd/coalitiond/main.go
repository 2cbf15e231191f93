// Command coalitiond is the coalition server: `serve` runs it, `migrate`
// brings a database's schema up to date, `clear` clears settlement windows,
// and `dev` runs a local coalition with demo data on a PostgreSQL and a
// Vault it starts itself, their data kept between runs. The server itself is assembled by gateway/server; this
// command only turns flags into its Config.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/cmd/coalitiond/internal/demo"
	"github.com/coalition-loyalty/coalition/cmd/internal/envflag"
	"github.com/coalition-loyalty/coalition/coalition/infra/schema"
	"github.com/coalition-loyalty/coalition/coalition/infra/telemetry"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/wallet/apns"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	surviveClosedPipes()
	tuneGC()
	if err := root().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "coalitiond:", err)
		os.Exit(1)
	}
}

// surviveClosedPipes keeps a closed pipe on standard output or error
// (coalitiond dev | tee log, then tee ends) from killing the process with
// SIGPIPE before it stops what it started: writes fail with EPIPE instead.
func surviveClosedPipes() { signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) }

func root() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "coalitiond",
		Short:         "Coalition loyalty network server: gRPC, REST and web pages",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(serveCmd(), migrateCmd(), devCmd(), clearCmd())
	for _, c := range cmd.Commands() {
		envflag.Bind(c)
	}
	return cmd
}

// options are the server's flags: most go straight into its Config, the
// rest reach it through config.
type options struct {
	server.Config
	phoneHashKey string // hex
	join         joinOptions
}

func addServerFlags(cmd *cobra.Command, o *options) {
	f := cmd.Flags()
	f.StringVar(&o.GRPCAddr, "listen", "127.0.0.1:7443", "gRPC listen address")
	f.StringVar(&o.HTTPAddr, "http-listen", "127.0.0.1:8080", "REST/JSON and web pages listen address, with TLS when Vault is configured; also /healthz and a bare /readyz for load balancers (empty: neither)")
	f.BoolVar(&o.HTTPPlaintext, "http-plaintext", false, "serve REST and the web pages in plain HTTP even off loopback or with Vault, e.g. behind a proxy that terminates TLS; UNSAFE on an open network: API keys and sessions cross it in clear")
	f.StringVar(&o.AdminAddr, "admin-listen", "127.0.0.1:9464", "Prometheus /metrics, /readyz with every check's details, and /healthz, in plain HTTP: keep it off the public network (empty: off)")
	f.Int64Var(&o.HTTPLimits.MaxBodyBytes, "http-max-body-bytes", 1<<20, "largest request body the HTTP listeners take; a larger one gets 413")
	f.DurationVar(&o.HTTPLimits.ReadTimeout, "http-read-timeout", 30*time.Second, "time an HTTP client has to send a whole request, body included (headers: 10 s at most)")
	f.DurationVar(&o.HTTPLimits.WriteTimeout, "http-write-timeout", 2*time.Minute, "time to answer an HTTP request, from the end of its headers (CSV reports stream within it)")
	f.DurationVar(&o.HTTPLimits.IdleTimeout, "http-idle-timeout", 2*time.Minute, "how long an idle kept-alive HTTP connection stays open")
	f.IntVar(&o.Lanes, "ledger-lanes", 0, "group-commit lanes that accruals, redemptions and holds queue into; each commits what queued while its previous batch committed, in one transaction (0: one, which keeps two batches in flight; -1: one transaction per posting)")
	f.StringVar(&o.PprofAddr, "pprof-listen", "", "serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060 (empty: off)")
	f.StringVar(&o.PublicURL, "public-url", "", "address people open the web pages at, for member links (default https://<http-listen>, http:// in plain HTTP); https:// marks cookies Secure")
	f.StringSliceVar(&o.TLSHosts, "tls-hosts", []string{"localhost", "127.0.0.1"}, "names and addresses in the server's TLS certificate")
	f.StringVar(&o.Settings.Name, "coalition-name", demo.Settings.Name, "coalition name, recorded on first start")
	f.StringVar(&o.Settings.Currency, "currency", demo.Settings.Currency, "ISO 4217 currency partners settle in, recorded on first start")
	f.StringVar(&o.Settings.TimeZone, "time-zone", demo.Settings.TimeZone, "IANA time zone that cuts business days, recorded on first start")
	f.Int64Var(&o.Settings.PointValueMinor, "point-value-minor", demo.Settings.PointValueMinor, "money value of one point in minor units, recorded on first start")
	f.DurationVar(&o.SweepInterval, "hold-sweep-interval", 30*time.Second, "how often expired holds are marked released (0: never)")
	f.DurationVar(&o.RevocationMaxAge, "revocation-max-age", 15*time.Minute, "with Vault unreachable, the replica stays ready until its revocation list is this old (0: any age)")
	f.DurationVar(&o.ClearingInterval, "clearing-interval", time.Minute, "how often to clear windows whose business day has ended (0: never; use coalitiond clear)")
	f.Int64Var(&o.Settings.InterchangeFeeBP, "interchange-fee-bp", demo.Settings.InterchangeFeeBP, "operator's fee on points burned at a partner other than the issuer, in basis points, recorded on first start")
	f.Int64Var(&o.Settings.IssueFeeBP, "issue-fee-bp", demo.Settings.IssueFeeBP, "operator's fee on points issued, in basis points, recorded on first start")
	f.Int64Var(&o.Settings.BreakageShareBP, "breakage-share-bp", demo.Settings.BreakageShareBP, "operator's share of expired points, in basis points, recorded on first start")
	// The wallet passes; their credentials are in Vault (coalitionctl
	// vault put-wallet-…).
	f.StringVar(&o.Wallet.PassTypeID, "wallet-pass-type-id", "", `Apple Wallet pass type identifier ("pass.…"), as in the pass type certificate in Vault (empty: no Apple Wallet; dev mode: `+devPassTypeID+`)`)
	f.StringVar(&o.Wallet.TeamID, "wallet-team-id", "", "Apple developer team id that owns the pass type (dev mode: "+devTeamID+")")
	f.StringVar(&o.Wallet.APNsURL, "apns-url", apns.ProductionURL, "APNs endpoint that wakes devices to fetch updated passes")
	f.StringVar(&o.Wallet.GoogleAPIURL, "google-wallet-api-url", googlewallet.DefaultBaseURL, "Google Wallet API (walletobjects v1) base URL (dev mode's own credentials make no API calls)")
	f.StringVar(&o.Wallet.GoogleTokenURL, "google-wallet-token-url", googlewallet.DefaultTokenURL, "Google OAuth2 token endpoint for the Wallet service account")
	f.IntVar(&o.Wallet.ExpiringDays, "wallet-expiring-days", 7, "the daily job tells members on their wallet pass of points expiring within this many days")
	f.DurationVar(&o.Wallet.OutboxInterval, "wallet-outbox-interval", 5*time.Second, "how often pass updates (balance, expiring points) are delivered to Apple and Google (negative: never)")
}

// config completes the flags into the server's Config. Vault's own
// environment variables stand in for flags left empty here, not in the
// server, so that a test's server never picks up a developer's Vault.
func (o options) config() server.Config {
	c := o.Config
	if c.Vault.Addr == "" {
		c.Vault.Addr = os.Getenv("VAULT_ADDR")
	}
	if c.Vault.Token == "" {
		c.Vault.Token = os.Getenv("VAULT_TOKEN")
	}
	// A key that is not hex is no key: without Vault the server refuses
	// to start for want of one, with Vault it needs none.
	if key, err := hex.DecodeString(o.phoneHashKey); err == nil {
		c.PhoneHashKey = key
	}
	// The daily job runs often, so that a replica that restarts soon
	// catches up.
	c.MaintenanceInterval = 15 * time.Minute
	c.Log = slog.New(telemetry.LogHandler(slog.NewTextHandler(os.Stderr, nil)))
	return c
}

func serveCmd() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the coalition: the gRPC API, its REST mirror and the web pages",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.DatabaseURL == "" {
				return errors.New("--database-url is required")
			}
			cfg := o.config()
			var err error
			if cfg.Join, err = o.join.config(cfg); err != nil {
				return err
			}
			srv, err := cfg.Complete(cmd.Context())
			if err != nil {
				return err
			}
			return srv.Run(cmd.Context())
		},
	}
	addServerFlags(cmd, &o)
	addJoinFlags(cmd, &o.join, "off", ".dev/outbox")
	f := cmd.Flags()
	f.StringVar(&o.DatabaseURL, "database-url", "", "PostgreSQL or CockroachDB connection URL")
	f.BoolVar(&o.DevAuth, "dev-auth", false, `accept "authorization: Dev <partner-code>" metadata (from loopback peers only)`)
	f.StringVar(&o.phoneHashKey, "phone-hash-key", "", "without Vault: hex key (32+ bytes) for the keyed hash of phone numbers")
	f.StringVar(&o.Vault.Addr, "vault-addr", "", "Vault address (default $VAULT_ADDR)")
	f.StringVar(&o.Vault.RoleID, "vault-role-id", "", "the server's AppRole role id")
	f.StringVar(&o.Vault.SecretID, "vault-secret-id", "", "the server's AppRole secret id")
	f.StringVar(&o.Vault.Token, "vault-token", "", "a Vault token instead of AppRole (default $VAULT_TOKEN)")
	f.StringVar(&o.PartnerCA.RoleID, "partner-ca-role-id", "", "an AppRole of policy coalition-partner-ca: partners' admins issue and revoke their own certificates in the portal (empty: the operator does)")
	f.StringVar(&o.PartnerCA.SecretID, "partner-ca-secret-id", "", "the secret id of --partner-ca-role-id")
	f.StringVar(&o.Vault.Kubernetes.Role, "vault-kubernetes-role", "", "log in with Vault's Kubernetes auth method as this role, with the pod's service account token")
	f.StringVar(&o.Vault.Kubernetes.TokenPath, "vault-kubernetes-token-file", vault.DefaultKubernetesTokenPath, "the service account token for --vault-kubernetes-role (read again at every login)")
	f.StringVar(&o.Vault.Kubernetes.Mount, "vault-kubernetes-mount", "kubernetes", "where Vault's Kubernetes auth method is mounted")
	f.DurationVar(&o.Vault.HashTimeout, "vault-hash-timeout", vault.DefaultHashTimeout,
		"how long a request waits for Vault to hash a phone number or an API key before it answers UNAVAILABLE")
	return cmd
}

func migrateCmd() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the embedded schema migrations",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				return errors.New("--database-url is required")
			}
			runner, err := txn.Open(cmd.Context(), url)
			if err != nil {
				return err
			}
			defer runner.Pool().Close()
			applied, err := schema.Migrate(cmd.Context(), runner.Pool())
			for _, name := range applied {
				fmt.Println("applied", name)
			}
			if err == nil && len(applied) == 0 {
				fmt.Println("schema is up to date")
			}
			return err
		},
	}
	cmd.Flags().StringVar(&url, "database-url", "", "PostgreSQL or CockroachDB connection URL")
	return cmd
}

func clearCmd() *cobra.Command {
	var url, window string
	cmd := &cobra.Command{
		Use:   "clear",
		Short: "Clear settlement windows: every window whose business day has ended, or --window",
		Long: `clear closes a settlement window (opening the next), computes its report and
stores it. Without --window it clears every window whose business day has
ended, oldest first. It is idempotent: a cleared window's report is printed as
stored. The server does the same on a schedule (--clearing-interval).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				return errors.New("--database-url is required")
			}
			ctx := cmd.Context()
			runner, err := txn.Open(ctx, url)
			if err != nil {
				return err
			}
			defer runner.Pool().Close()
			c := clearing.New(clearing.Config{Tx: runner})
			if window == "" {
				done, err := c.RunDue(ctx)
				for _, d := range done {
					fmt.Println("cleared", d.Format(time.DateOnly))
				}
				if err == nil && len(done) == 0 {
					fmt.Println("no window is due: every ended business day is cleared")
				}
				return err
			}
			date, err := c.BusinessDate(ctx, window)
			if err != nil {
				return fmt.Errorf("--window: %w", err)
			}
			// A window cleared before is reported as such, not as if this
			// run had cleared it.
			b, already, err := c.Clear(ctx, date)
			if err != nil {
				return err
			}
			verb := "cleared"
			if already {
				verb = "already cleared"
			}
			r, err := clearing.Decode(b)
			if err != nil {
				return err
			}
			fmt.Println(clearedLine(verb, r))
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "database-url", "", "PostgreSQL or CockroachDB connection URL")
	cmd.Flags().StringVar(&window, "window", "", "business day to clear: YYYY-MM-DD, or today or yesterday in the coalition's time zone (closes it if still open)")
	return cmd
}

// clearedLine tells what clear did with a window: "cleared" it now, or
// found it "already cleared".
func clearedLine(verb string, r clearing.Report) string {
	return fmt.Sprintf("%s %s: %d flows, %d fees; nets sum to %d", verb, r.BusinessDate, len(r.Flows), len(r.Fees), r.Reconciliation.NetsSum)
}
