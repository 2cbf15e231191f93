// Command coalitiond is the coalition server: `serve` runs it, `migrate`
// brings a database's schema up to date, and `dev` runs a throwaway local
// coalition with demo data on a PostgreSQL it starts itself.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/coalition-loyalty/coalition/cmd/coalitiond/internal/demo"
	"github.com/coalition-loyalty/coalition/cmd/internal/envflag"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgcluster"
	"github.com/coalition-loyalty/coalition/coalition/devenv/vaultdev"
	"github.com/coalition-loyalty/coalition/coalition/infra/schema"
	"github.com/coalition-loyalty/coalition/coalition/infra/telemetry"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/jobs"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/network"
	"github.com/coalition-loyalty/coalition/coalition/onboarding"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
	"github.com/coalition-loyalty/coalition/gateway/rest"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
	"github.com/coalition-loyalty/coalition/gateway/web"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "coalitiond:", err)
		os.Exit(1)
	}
}

type serverConfig struct {
	databaseURL string
	listen      string
	httpListen  string
	pprofListen string
	// publicURL is where people open the web pages (member links point
	// there); devDir, in dev mode, receives the demo's web credentials.
	publicURL     string
	devDir        string
	tlsHosts      []string
	vaultAddr     string
	vaultToken    string
	vaultRoleID   string
	vaultSecretID string
	vaultK8s      vault.KubernetesLogin
	crlMaxAge     time.Duration
	devAuth       bool
	phoneHashKey  string
	settings      ledger.Settings
	sweepInterval time.Duration
	clearEvery    time.Duration
	// now is the business clock: business days, rules in force, holds,
	// expiry and the demo's dates (time.Now if nil). Credentials and
	// readiness always use the real time.
	now func() time.Time
}

func root() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "coalitiond",
		Short:         "Coalition loyalty network server",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(serveCmd(), migrateCmd(), devCmd(), clearCmd())
	for _, c := range cmd.Commands() {
		envflag.Bind(c)
	}
	return cmd
}

func addServerFlags(cmd *cobra.Command, c *serverConfig) {
	f := cmd.Flags()
	f.StringVar(&c.listen, "listen", "127.0.0.1:7443", "gRPC listen address")
	f.StringVar(&c.httpListen, "http-listen", "127.0.0.1:8080", "REST/JSON and web pages listen address (empty: neither)")
	f.StringVar(&c.pprofListen, "pprof-listen", "", "serve Go's profiler (/debug/pprof/) on this loopback address, e.g. 127.0.0.1:6060 (empty: off)")
	f.StringVar(&c.publicURL, "public-url", "", "address people open the web pages at, for member links (default http://<http-listen>); https:// marks cookies Secure")
	f.StringSliceVar(&c.tlsHosts, "tls-hosts", []string{"localhost", "127.0.0.1"}, "names and addresses in the server's TLS certificate")
	f.StringVar(&c.settings.Name, "coalition-name", demo.Settings.Name, "coalition name, recorded on first start")
	f.StringVar(&c.settings.Currency, "currency", demo.Settings.Currency, "ISO 4217 currency partners settle in, recorded on first start")
	f.StringVar(&c.settings.TimeZone, "time-zone", demo.Settings.TimeZone, "IANA time zone that cuts business days, recorded on first start")
	f.Int64Var(&c.settings.PointValueMinor, "point-value-minor", demo.Settings.PointValueMinor, "money value of one point in minor units, recorded on first start")
	f.DurationVar(&c.sweepInterval, "hold-sweep-interval", 30*time.Second, "how often expired holds are marked released")
	f.DurationVar(&c.crlMaxAge, "revocation-max-age", 15*time.Minute, "with Vault unreachable, the replica stays ready until its revocation list is this old (0: any age)")
	f.DurationVar(&c.clearEvery, "clearing-interval", time.Minute, "how often to clear windows whose business day has ended (0: never; use coalitiond clear)")
	f.Int64Var(&c.settings.InterchangeFeeBP, "interchange-fee-bp", demo.Settings.InterchangeFeeBP, "operator's fee on points burned at a partner other than the issuer, in basis points, recorded on first start")
	f.Int64Var(&c.settings.IssueFeeBP, "issue-fee-bp", demo.Settings.IssueFeeBP, "operator's fee on points issued, in basis points, recorded on first start")
	f.Int64Var(&c.settings.BreakageShareBP, "breakage-share-bp", demo.Settings.BreakageShareBP, "operator's share of expired points, in basis points, recorded on first start")
}

func serveCmd() *cobra.Command {
	var c serverConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the coalition's gRPC API",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.databaseURL == "" {
				return errors.New("--database-url is required")
			}
			return runServer(cmd.Context(), c, false, nil)
		},
	}
	addServerFlags(cmd, &c)
	cmd.Flags().StringVar(&c.databaseURL, "database-url", "", "PostgreSQL or CockroachDB connection URL")
	cmd.Flags().BoolVar(&c.devAuth, "dev-auth", false, `accept "authorization: Dev <partner-code>" metadata (from loopback peers only)`)
	cmd.Flags().StringVar(&c.phoneHashKey, "phone-hash-key", "", "without Vault: hex key (32+ bytes) for the keyed hash of phone numbers")
	cmd.Flags().StringVar(&c.vaultAddr, "vault-addr", "", "Vault address (default $VAULT_ADDR)")
	cmd.Flags().StringVar(&c.vaultRoleID, "vault-role-id", "", "the server's AppRole role id")
	cmd.Flags().StringVar(&c.vaultSecretID, "vault-secret-id", "", "the server's AppRole secret id")
	cmd.Flags().StringVar(&c.vaultToken, "vault-token", "", "a Vault token instead of AppRole (default $VAULT_TOKEN)")
	cmd.Flags().StringVar(&c.vaultK8s.Role, "vault-kubernetes-role", "", "log in with Vault's Kubernetes auth method as this role, with the pod's service account token")
	cmd.Flags().StringVar(&c.vaultK8s.TokenPath, "vault-kubernetes-token-file", vault.DefaultKubernetesTokenPath, "the service account token for --vault-kubernetes-role (read again at every login)")
	cmd.Flags().StringVar(&c.vaultK8s.Mount, "vault-kubernetes-mount", "kubernetes", "where Vault's Kubernetes auth method is mounted")
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

func devCmd() *cobra.Command {
	var c serverConfig
	var dataDir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local coalition with demo data on a throwaway PostgreSQL",
		Long: `dev starts PostgreSQL from the system's binaries with its data under --data-dir,
migrates it, seeds a demo coalition on the first run, and serves gRPC on a
loopback address with dev credentials. Ctrl-C stops everything.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), c, dataDir)
		},
	}
	addServerFlags(cmd, &c)
	cmd.Flags().StringVar(&dataDir, "data-dir", ".dev", "folder for the dev database and keys (kept between runs)")
	return cmd
}

func runDev(ctx context.Context, c serverConfig, dataDir string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	log.Info("starting PostgreSQL", "dir", filepath.Join(abs, "pg"))
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cluster, err := pgcluster.Start(startCtx, pgcluster.Options{Dir: filepath.Join(abs, "pg")})
	if err != nil {
		return err
	}
	defer func() {
		log.Info("stopping PostgreSQL")
		if err := cluster.Stop(); err != nil {
			log.Error("stop PostgreSQL", "error", err)
		}
	}()
	if err := cluster.CreateDatabase(startCtx, "coalition", ""); err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	c.databaseURL = cluster.URL("coalition")
	c.devAuth = true
	c.devDir = abs
	// A Vault of the user's own (VAULT_ADDR and VAULT_TOKEN), or one of ours
	// with its data under the dev folder.
	vs := &vaultdev.Server{Addr: os.Getenv("VAULT_ADDR"), Token: os.Getenv("VAULT_TOKEN")}
	if vs.Addr == "" || vs.Token == "" {
		log.Info("starting Vault", "dir", filepath.Join(abs, "vault"))
		if vs, err = vaultdev.Start(startCtx, vaultdev.Options{DataDir: filepath.Join(abs, "vault")}); err != nil {
			return err
		}
		defer func() {
			log.Info("stopping Vault")
			vs.Stop()
		}()
	} else {
		log.Info("using the Vault at $VAULT_ADDR", "addr", vs.Addr)
	}
	// The operator's side: set Vault up, and give the server its AppRole.
	operator, err := vault.New(vs.Addr, vs.Token)
	if err != nil {
		return err
	}
	creds, err := operator.Bootstrap(startCtx)
	if err != nil {
		return err
	}
	c.vaultAddr, c.vaultRoleID, c.vaultSecretID = vs.Addr, creds.RoleID, creds.SecretID
	// For coalitionctl in another terminal: `source .dev/env`.
	envFile := fmt.Sprintf("export COALITION_DATABASE_URL='%s'\nexport VAULT_ADDR='%s'\nexport VAULT_TOKEN='%s'\n",
		c.databaseURL, vs.Addr, vs.Token)
	if err := os.WriteFile(filepath.Join(abs, "env"), []byte(envFile), 0o600); err != nil {
		return err
	}
	bundles := filepath.Join(abs, "partners")
	return runServer(ctx, c, true, func(ctx context.Context, reg *partners.Register) error {
		return devBundles(ctx, operator, reg, bundles, log)
	})
}

// devBundles gives every partner without a valid certificate in dir a new
// bundle, dir/<code>/{cert,key,ca}.pem, as a partner would receive it.
func devBundles(ctx context.Context, v *vault.Client, reg *partners.Register, dir string, log *slog.Logger) error {
	ps, err := reg.List(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		certPath := filepath.Join(dir, p.Code, onboarding.CertFile)
		if b, err := os.ReadFile(certPath); err == nil {
			if block, _ := pem.Decode(b); block != nil {
				if cert, err := x509.ParseCertificate(block.Bytes); err == nil && time.Until(cert.NotAfter) > 24*time.Hour {
					continue
				}
			}
		}
		if _, err := onboarding.IssueCertificate(ctx, v, reg, p, 0, filepath.Join(dir, p.Code)); err != nil {
			return err
		}
		log.Info("issued partner certificate", "partner", p.Code, "bundle", filepath.Join(dir, p.Code))
	}
	return nil
}

// runServer serves until ctx ends, then drains in-flight RPCs. With Vault it
// serves TLS with a certificate from Vault and identifies partners by their
// client certificates; without, only dev credentials on loopback. In dev
// mode it also migrates the database, seeds the demo coalition, and hands
// the seeded partners their certificates through onboard.
func runServer(ctx context.Context, c serverConfig, dev bool, onboard func(context.Context, *partners.Register) error) error {
	log := slog.New(telemetry.LogHandler(slog.NewTextHandler(os.Stderr, nil)))
	tel, err := telemetry.Setup(ctx, "coalitiond")
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(flush)
	}()
	sec, err := connectVault(ctx, c, log)
	if err != nil {
		return err
	}
	var hasher phone.Hasher
	if sec != nil {
		hasher = vault.PhoneHasher{C: sec.client}
	} else {
		if !c.devAuth {
			return errors.New("no partner authentication is configured: give --vault-addr with AppRole credentials " +
				"(or a token), or run with --dev-auth on a loopback address")
		}
		if !loopback(c.listen) {
			return fmt.Errorf("--dev-auth without TLS proves nothing about callers: listen on a loopback address, not %s", c.listen)
		}
		key, err := hex.DecodeString(c.phoneHashKey)
		if err != nil || len(key) < 32 {
			return errors.New("without Vault, --phone-hash-key must be at least 32 bytes, hex-encoded")
		}
		if hasher, err = phone.NewHMAC(key); err != nil {
			return err
		}
	}
	poolCfg, err := txn.PoolConfig(c.databaseURL)
	if err != nil {
		return err
	}
	if tel.ExportsTraces {
		poolCfg.ConnConfig.Tracer = telemetry.PgxTracer{T: tel.Traces.Tracer("github.com/coalition-loyalty/coalition/db")}
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	runner, err := txn.New(ctx, pool)
	if err != nil {
		return err
	}
	metrics, err := telemetry.NewMetrics(tel.Meters, runner.Retries)
	if err != nil {
		return err
	}
	if dev {
		if _, err := schema.Migrate(ctx, runner.Pool()); err != nil {
			return err
		}
	}
	if pending, err := schema.Pending(ctx, runner.Pool()); err != nil {
		return err
	} else if len(pending) > 0 {
		return fmt.Errorf("the database lacks migrations %v: run coalitiond migrate", pending)
	}
	now := c.now
	if now == nil {
		now = time.Now
	}
	ruleStore := rules.NewStore(runner, now)
	l := ledger.New(ledger.Config{Tx: runner, Phones: hasher, Rules: ruleStore, Clock: now})
	reg := partners.New(runner, now)
	settlement := clearing.New(clearing.Config{Tx: runner, Clock: now})
	var seeded []demo.Member
	if dev {
		if seeded, err = demo.Seed(ctx, demo.NewEnv(runner, hasher, c.settings, now)); err != nil {
			return err
		}
	}
	if err := l.Bootstrap(ctx, c.settings); err != nil {
		return err
	}
	if onboard != nil {
		if err := onboard(ctx, reg); err != nil {
			return err
		}
	}
	var devAuth *rpc.DevAuthenticator
	if c.devAuth {
		devAuth = &rpc.DevAuthenticator{Partners: reg}
	}
	opts := rpc.Options{Ledger: l, Settlement: settlement, Log: log, Auth: devAuth,
		Rules: ruleStore, Tiers: rpc.LedgerTiers{L: l},
		ServerOptions: []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(tel.Traces), otelgrpc.WithMeterProvider(tel.Meters)))}}
	authMode := "dev credentials, plaintext"
	var keys *apikeys.Store
	if sec != nil {
		// The first revocation list is read before serving: until then a
		// revoked certificate would pass.
		crl := &rpc.CRLCache{}
		revoked, err := sec.client.RevokedSerials(ctx)
		if err != nil {
			return err
		}
		crl.Set(revoked)
		sec.crlRead.Set(time.Now())
		fetch := func(ctx context.Context) (map[string]bool, error) {
			r, err := sec.client.RevokedSerials(ctx)
			if err == nil {
				sec.crlRead.Set(time.Now())
			}
			return r, err
		}
		go crl.Refresh(ctx, 30*time.Second, fetch, func(err error) {
			metrics.VaultErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("operation", "crl")))
			log.Warn("refresh the revocation list (keeping the last one)", "error", err)
		})
		go sec.cert.Renew(ctx, log)
		keys = apikeys.New(runner, sec.client, nil, time.Minute, 10_000)
		opts.Auth = rpc.CertOrDev{
			MTLS:    &rpc.MTLSAuthenticator{Roots: sec.pool, Intermediates: x509.NewCertPool(), Revocations: crl},
			APIKeys: keys,
			Dev:     devAuth,
		}
		opts.ServerOptions = append(opts.ServerOptions, grpc.Creds(credentials.NewTLS(&tls.Config{
			GetCertificate: sec.cert.GetCertificate, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12,
		})))
		authMode = "client certificates from the coalition CA, API keys"
		if c.devAuth {
			authMode += "; dev credentials from loopback"
		}
	}
	// People on the web pages: members by their session from a partner's
	// link, finance and operator staff by a session from their credential
	// (a staff API key; none without Vault).
	sessCfg := sessions.Config{Tx: runner}
	if keys != nil {
		sessCfg.Credentials = keys
	}
	sess := sessions.New(sessCfg)
	if c.publicURL == "" {
		c.publicURL = "http://" + c.httpListen
	}
	opts.Auth = rpc.SessionAuth{Sessions: sess, Next: opts.Auth}
	opts.Members, opts.Partners, opts.Links, opts.PublicURL = l, reg, sess, c.publicURL
	opts.Network = network.New(runner, reg, now)
	srv, hs, err := rpc.NewServer(opts)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	work := &jobs.Jobs{Ledger: l, Sessions: sess, Clearing: clearingJob{settlement}, Metrics: metrics, Log: log}
	go jobs.Every(ctx, c.sweepInterval, false, work.SweepHolds)
	go jobs.Every(ctx, 15*time.Minute, true, work.Maintain)
	if c.clearEvery > 0 {
		go jobs.Every(ctx, c.clearEvery, true, work.ClearDue)
	}
	ready := &readiness.Checker{Database: pool.Ping, Now: time.Now, Log: log, VaultErrors: metrics.VaultErrors,
		OnChange: func(ok bool) {
			status := healthpb.HealthCheckResponse_SERVING
			if !ok {
				status = healthpb.HealthCheckResponse_NOT_SERVING
			}
			for _, svc := range append([]string{""}, rpc.Services...) {
				hs.SetServingStatus(svc, status)
			}
		}}
	if sec != nil {
		ready.Vault = &readiness.Vault{Check: sec.client.Check, CertExpiry: sec.cert.NotAfter, CertMargin: 10 * time.Minute,
			CRL: &sec.crlRead, CRLMaxAge: c.crlMaxAge}
	}
	if err := ready.RegisterMetrics(tel.Meters.Meter("github.com/coalition-loyalty/coalition")); err != nil {
		return err
	}
	go ready.Watch(ctx, 5*time.Second)
	if c.pprofListen != "" {
		if err := servePprof(ctx, c.pprofListen, log); err != nil {
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("serving gRPC", "addr", lis.Addr().String(), "auth", authMode)
	var httpSrv *http.Server
	if c.httpListen != "" {
		dial := insecure.NewCredentials()
		if sec != nil {
			dial = credentials.NewTLS(&tls.Config{RootCAs: sec.pool, ServerName: "localhost"})
		}
		pages := func(conn *grpc.ClientConn) (http.Handler, error) {
			return web.Handler(web.Config{Conn: conn, Sessions: sess, Secure: strings.HasPrefix(c.publicURL, "https://"), Log: log})
		}
		if httpSrv, err = serveREST(ctx, c.httpListen, lis.Addr().String(), dial, tel, ready, pages, served); err != nil {
			srv.Stop()
			return err
		}
		log.Info("serving REST and web pages", "addr", c.httpListen, "public_url", c.publicURL)
	}
	if dev {
		var pages *devPages
		if c.devDir != "" && c.httpListen != "" {
			if pages, err = devWeb(ctx, c.devDir, c.publicURL, keys, sess, l, reg, seeded); err != nil {
				log.Warn("dev web credentials", "error", err)
			}
		}
		printBanner(ctx, lis.Addr().String(), c.httpListen, c.databaseURL, sec != nil, reg, seeded, pages)
	}
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	hs.Shutdown()
	if httpSrv != nil {
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		httpSrv.Shutdown(shutdown)
		cancel()
	}
	drained := make(chan struct{})
	go func() { srv.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(15 * time.Second):
		srv.Stop()
	}
	return nil
}

// security is what the server takes from Vault.
type security struct {
	client  *vault.Client
	cert    *vault.ServerCert
	pool    *x509.CertPool
	crlRead readiness.Stamp // when the revocation list was last read
}

// connectVault logs the server in to Vault (AppRole, Kubernetes, or a
// token), and gets
// its TLS certificate and the coalition's CA. No Vault address: nil.
func connectVault(ctx context.Context, c serverConfig, log *slog.Logger) (*security, error) {
	addr := c.vaultAddr
	if addr == "" {
		addr = os.Getenv("VAULT_ADDR")
	}
	if addr == "" {
		return nil, nil
	}
	var client *vault.Client
	var err error
	switch {
	case c.vaultRoleID != "" && c.vaultSecretID != "":
		client, err = vault.LoginAppRole(ctx, addr, vault.AppRoleCredentials{RoleID: c.vaultRoleID, SecretID: c.vaultSecretID}, log)
	case c.vaultK8s.Role != "":
		client, err = vault.LoginKubernetes(ctx, addr, c.vaultK8s, log)
	case c.vaultToken != "" || os.Getenv("VAULT_TOKEN") != "":
		tok := c.vaultToken
		if tok == "" {
			tok = os.Getenv("VAULT_TOKEN")
		}
		client, err = vault.New(addr, tok)
	default:
		return nil, errors.New("Vault at " + addr + ": give --vault-role-id and --vault-secret-id (AppRole), --vault-kubernetes-role, or a token")
	}
	if err != nil {
		return nil, err
	}
	pool, _, err := client.CAPool(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (has `coalitionctl vault bootstrap` run?)", err)
	}
	cert, err := vault.NewServerCert(ctx, client, c.tlsHosts, 72*time.Hour)
	if err != nil {
		return nil, err
	}
	return &security{client: client, cert: cert, pool: pool}, nil
}

// serveREST serves the REST mirror, which calls the gRPC server on its
// loopback address so that every request passes the same interceptors.
func serveREST(ctx context.Context, addr, grpcAddr string, creds credentials.TransportCredentials, tel *telemetry.Telemetry, ready http.Handler,
	pages func(*grpc.ClientConn) (http.Handler, error), failed chan<- error) (*http.Server, error) {
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(creds),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tel.Traces), otelgrpc.WithMeterProvider(tel.Meters))))
	if err != nil {
		return nil, err
	}
	h, err := rest.Handler(ctx, conn)
	if err != nil {
		return nil, err
	}
	site, err := pages(conn)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", h)
	mux.Handle("GET /openapi.json", h)
	mux.Handle("/", rest.WithRequestID(site))
	mux.Handle("GET /metrics", tel.Metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("GET /readyz", ready)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			failed <- err
		}
		conn.Close()
	}()
	return srv, nil
}

// clearingJob is the clearing as the clearing job sees it: a report's line
// count is all the job logs of it.
type clearingJob struct{ c *clearing.Clearing }

func (j clearingJob) Due(ctx context.Context) ([]time.Time, error) { return j.c.Due(ctx) }

func (j clearingJob) Clear(ctx context.Context, day time.Time) (int, error) {
	b, err := j.c.Run(ctx, day)
	if err != nil {
		return 0, err
	}
	r, err := clearing.Decode(b)
	if err != nil {
		return 0, nil // cleared and stored; only the count is unknown
	}
	return len(r.Lines()), nil
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
			date, err := time.Parse(time.DateOnly, window)
			if err != nil {
				return fmt.Errorf("--window: want YYYY-MM-DD: %w", err)
			}
			b, err := c.Run(ctx, date)
			if err != nil {
				return err
			}
			r, err := clearing.Decode(b)
			if err != nil {
				return err
			}
			fmt.Printf("cleared %s: %d flows, %d fees; nets sum to %d\n", r.BusinessDate, len(r.Flows), len(r.Fees), r.Reconciliation.NetsSum)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "database-url", "", "PostgreSQL or CockroachDB connection URL")
	cmd.Flags().StringVar(&window, "window", "", "business day to clear, YYYY-MM-DD (closes it if still open)")
	return cmd
}

func printBanner(ctx context.Context, addr, httpAddr, dbURL string, tlsOn bool, reg *partners.Register, seeded []demo.Member, pages *devPages) {
	ps, _ := reg.List(ctx)
	var b strings.Builder
	mode := "plaintext, dev credentials"
	if tlsOn {
		mode = "TLS; partners' client certificates from Vault, or dev credentials from loopback"
	}
	fmt.Fprintf(&b, "\nCoalition dev mode is up.\n\n  gRPC        %s (%s)\n", addr, mode)
	if httpAddr != "" {
		fmt.Fprintf(&b, "  REST        http://%s/v1/…  (OpenAPI: http://%s/openapi.json)\n", httpAddr, httpAddr)
	}
	fmt.Fprintf(&b, "  database    %s\n\n  Partners (bundles in .dev/partners/<code>/; or -H 'authorization: Dev <code>'):\n", dbURL)
	for _, p := range ps {
		fmt.Fprintf(&b, "    %-8s %-15s %-13s earns %d.%02d%%\n", p.Code, p.Name, p.Kind, p.EarnRateBP/100, p.EarnRateBP%100)
	}
	if len(seeded) > 0 {
		b.WriteString("\n  Demo members:\n")
		for _, m := range seeded {
			fmt.Fprintf(&b, "    %-6s card %s  phone %s\n", m.Name, m.CardNumber, m.Phone)
		}
	}
	if pages != nil {
		pages.banner(&b)
	}
	if tlsOn {
		fmt.Fprintf(&b, "\n  Try:\n    grpcurl -cacert .dev/partners/cafe/ca.pem -cert .dev/partners/cafe/cert.pem -key .dev/partners/cafe/key.pem localhost:%s list\n", portOf(addr))
	} else {
		fmt.Fprintf(&b, "\n  Try:\n    grpcurl -plaintext -H 'authorization: Dev cafe' %s list\n", addr)
	}
	fmt.Fprintf(&b, "    source .dev/env; go run ./cmd/coalitionctl partners list   (database, Vault address and token)\n\nCtrl-C stops the server, Vault and PostgreSQL.\n\n")
	fmt.Print(b.String())
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
