package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/spf13/cobra"

	"github.com/coalition-loyalty/coalition/cmd/coalitiond/internal/demo"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgcluster"
	"github.com/coalition-loyalty/coalition/coalition/devenv/vaultdev"
	"github.com/coalition-loyalty/coalition/coalition/enrolment/sender"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/onboarding"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/gateway/server"
)

func devCmd() *cobra.Command {
	var o options
	var dataDir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local coalition with demo data: gRPC, REST and the web pages, on its own PostgreSQL and Vault",
		Long: `dev starts PostgreSQL from the system's binaries and a Vault (or uses the one
at $VAULT_ADDR with $VAULT_TOKEN), with their data kept under --data-dir
between runs and on the same ports each time; migrates the database, seeds a
demo coalition on the first run, and serves gRPC, REST and the web pages on
loopback addresses with dev credentials. It writes <data-dir>/env for
coalitionctl in another terminal. Ctrl-C or SIGTERM stops everything it
started, as does a failed start.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), o, dataDir, os.Stdout)
		},
	}
	addServerFlags(cmd, &o)
	addJoinFlags(cmd, &o.join, "dev", "")
	cmd.Flags().StringVar(&dataDir, "data-dir", ".dev", "folder for the dev database and keys (kept between runs)")
	return cmd
}

// runDev starts PostgreSQL and Vault (or uses the user's Vault), sets Vault
// up as an operator would, and serves the demo coalition on them until ctx
// ends, then stops what it started.
// The banner goes to out; a reader that went away (the end of a pipe
// closed) does not stop the coalition.
func runDev(ctx context.Context, o options, dataDir string, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	ports := loadPorts(abs)
	log.Info("starting PostgreSQL", "dir", filepath.Join(abs, "pg"))
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cluster, err := pgcluster.Start(startCtx, pgcluster.Options{Dir: filepath.Join(abs, "pg"), Port: ports.reuse(ports.PostgreSQL)})
	if err != nil {
		return err
	}
	ports.PostgreSQL = cluster.Port()
	defer func() {
		log.Info("stopping PostgreSQL")
		if err := cluster.Stop(); err != nil {
			log.Error("stop PostgreSQL", "error", err)
		}
	}()
	if err := cluster.CreateDatabase(startCtx, "coalition", ""); err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	cfg := o.config()
	cfg.DatabaseURL, cfg.Migrate, cfg.DevAuth = cluster.URL("coalition"), true, true
	// Joining by QR: the codes' messages go to files under the dev folder.
	if cfg.Join, err = o.join.devJoin(abs).config(cfg); err != nil {
		return err
	}
	// On loopback the pages stay plain HTTP, so that a browser opens them
	// without trusting the dev CA; elsewhere they get the Vault certificate.
	cfg.HTTPPlaintext = cfg.HTTPPlaintext || onLoopback(cfg.HTTPAddr)
	// A Vault of the user's own (VAULT_ADDR and VAULT_TOKEN), or one of ours
	// with its data under the dev folder.
	vs := &vaultdev.Server{Addr: os.Getenv("VAULT_ADDR"), Token: os.Getenv("VAULT_TOKEN")}
	if vs.Addr == "" || vs.Token == "" {
		log.Info("starting Vault", "dir", filepath.Join(abs, "vault"))
		if vs, err = vaultdev.Start(startCtx, vaultdev.Options{DataDir: filepath.Join(abs, "vault"), Port: ports.reuse(ports.Vault)}); err != nil {
			return err
		}
		ports.Vault = portOfURL(vs.Addr)
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
	if err := devWallet(startCtx, operator, &cfg.Wallet); err != nil {
		return err
	}
	cfg.Vault = server.VaultConfig{Addr: vs.Addr, RoleID: creds.RoleID, SecretID: creds.SecretID}
	// Dev partners' admins rotate their own certificates in the portal.
	ca, err := operator.API().Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"coalition-partner-ca"}, NoParent: true})
	if err != nil {
		return fmt.Errorf("partner CA token: %w", err)
	}
	cfg.PartnerCA = server.VaultConfig{Token: ca.Auth.ClientToken}
	if err := ports.save(abs); err != nil {
		return err
	}
	// For coalitionctl in another terminal: `source .dev/env`, right after
	// every start (the ports are the same unless one was taken).
	envFile := fmt.Sprintf("export COALITION_DATABASE_URL='%s'\nexport VAULT_ADDR='%s'\nexport VAULT_TOKEN='%s'\n",
		cfg.DatabaseURL, vs.Addr, vs.Token)
	if err := os.WriteFile(filepath.Join(abs, "env"), []byte(envFile), 0o600); err != nil {
		return err
	}
	return serveDev(ctx, cfg, operator, abs, dataDir, out, log)
}

// serveDev serves the demo coalition: seeded on the first run, its partners
// given certificate bundles under dir, and a banner that tells a person how
// to reach it.
// shown is the data dir as the person gave it, for the banner.
func serveDev(ctx context.Context, cfg server.Config, operator *vault.Client, dir, shown string, out io.Writer, log *slog.Logger) error {
	var seeded []demo.Member
	cfg.Seed = func(ctx context.Context, s *server.Server) (err error) {
		seeded, err = demo.Seed(ctx, demo.NewEnv(s.Tx(), s.Phones(), cfg.Settings, s.Clock()))
		return err
	}
	srv, err := cfg.Complete(ctx)
	if err != nil {
		return err
	}
	if err := devBundles(ctx, operator, srv.Partners(), filepath.Join(dir, "partners"), log); err != nil {
		srv.Close()
		return err
	}
	var pages *devPages
	if srv.HTTPAddr() != "" {
		if pages, err = devWeb(ctx, dir, srv.PublicURL(), srv.APIKeys(), srv.Sessions(), srv.Ledger(), srv.Partners(), seeded); err != nil {
			log.Warn("dev web credentials", "error", err)
		}
		if o, ok := cfg.Join.Sender.(*sender.Outbox); ok && pages != nil {
			pages.outbox = o.Dir
		}
	}
	members, err := demoMembers(dir, seeded)
	if err != nil {
		log.Warn("demo members", "error", err)
	}
	printBanner(ctx, out, srv, cfg.DatabaseURL, shown, members, pages)
	return srv.Run(ctx)
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

func printBanner(ctx context.Context, out io.Writer, srv *server.Server, dbURL, dataDir string, members []demoMember, pages *devPages) {
	ps, _ := srv.Partners().List(ctx)
	addr, tlsOn := srv.GRPCAddr(), srv.TLS()
	var b strings.Builder
	mode := "plaintext, dev credentials"
	if tlsOn {
		mode = "TLS; partners' client certificates from Vault, or dev credentials from loopback"
	}
	fmt.Fprintf(&b, "\nCoalition dev mode is up.\n\n  gRPC        %s (%s)\n", addr, mode)
	if httpAddr := srv.HTTPAddr(); httpAddr != "" {
		scheme := "http"
		if srv.HTTPTLS() {
			scheme = "https"
		}
		fmt.Fprintf(&b, "  REST        %s://%s/v1/…  (OpenAPI: %s://%s/openapi.json)\n", scheme, httpAddr, scheme, httpAddr)
	}
	if adminAddr := srv.AdminAddr(); adminAddr != "" {
		fmt.Fprintf(&b, "  admin       http://%s/metrics, http://%s/readyz\n", adminAddr, adminAddr)
	}
	partnersDir := filepath.Join(dataDir, "partners")
	fmt.Fprintf(&b, "  database    %s\n\n  Partners (bundles in %s/<code>/; or -H 'authorization: Dev <code>'):\n", dbURL, partnersDir)
	// The rate a purchase earns now: the rules' where they give one.
	rs, err := srv.Rules().InForce(ctx, srv.Tx().Pool(), srv.Clock()())
	if err != nil {
		rs = rules.RuleSet{}
	}
	for _, p := range ps {
		rate := rs.BaseRateBP(p.Code, p.EarnRateBP)
		fmt.Fprintf(&b, "    %-8s %-15s %-13s earns %d.%02d%%\n", p.Code, p.Name, p.Kind, rate/100, rate%100)
	}
	if len(members) > 0 {
		b.WriteString("\n  Demo members:\n")
		for _, m := range members {
			fmt.Fprintf(&b, "    %-6s card %s  phone %s\n", m.Name, m.Card, m.Phone)
		}
	}
	if pages != nil {
		pages.banner(&b)
	}
	if tlsOn {
		cafe := filepath.Join(partnersDir, "cafe")
		fmt.Fprintf(&b, "\n  Try:\n    grpcurl -cacert %s/ca.pem -cert %s/cert.pem -key %s/key.pem localhost:%s list\n", cafe, cafe, cafe, portOf(addr))
	} else {
		fmt.Fprintf(&b, "\n  Try:\n    grpcurl -plaintext -H 'authorization: Dev cafe' %s list\n", addr)
	}
	fmt.Fprintf(&b, "    source %s; go run ./cmd/coalitionctl partners list   (database, Vault address and token)\n\nCtrl-C stops the server, Vault and PostgreSQL.\n\n", filepath.Join(dataDir, "env"))
	// A closed pipe is no reason to stop serving.
	_, _ = io.WriteString(out, b.String())
}

// onLoopback says whether addr is a loopback address.
func onLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}
