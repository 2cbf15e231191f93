package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/infra/schema"
	"github.com/coalition-loyalty/coalition/coalition/infra/telemetry"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/network"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/segments"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
	"github.com/coalition-loyalty/coalition/settlement/analytics"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

func (s *Server) openTelemetry(ctx context.Context) error {
	if s.cfg.Telemetry != nil {
		s.tel = s.cfg.Telemetry
		return nil
	}
	tel, err := telemetry.Setup(ctx, "coalitiond")
	if err != nil {
		return err
	}
	s.tel = tel
	s.onClose(func() {
		flush, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(flush)
	})
	return nil
}

// choosePhoneHasher hashes phone numbers with Vault's transit key, or,
// without Vault, with the configured key; a server without Vault has only
// dev credentials, which prove nothing beyond loopback.
func (s *Server) choosePhoneHasher(context.Context) error {
	if s.sec != nil {
		s.phones = vault.PhoneHasher{C: s.sec.client}
		return nil
	}
	if !s.cfg.DevAuth {
		return errors.New("no partner authentication is configured: give --vault-addr with AppRole credentials " +
			"(or a token), or run with --dev-auth on a loopback address")
	}
	if addr := s.grpcAddrWanted(); !loopback(addr) {
		return fmt.Errorf("--dev-auth without TLS proves nothing about callers: listen on a loopback address, not %s", addr)
	}
	if len(s.cfg.PhoneHashKey) < 32 {
		return errors.New("without Vault, --phone-hash-key must be at least 32 bytes, hex-encoded")
	}
	h, err := phone.NewHMAC(s.cfg.PhoneHashKey)
	if err != nil {
		return err
	}
	s.phones = h
	return nil
}

// grpcAddrWanted is the gRPC address before it is listened on.
func (s *Server) grpcAddrWanted() string {
	if s.cfg.GRPCListener != nil {
		return s.cfg.GRPCListener.Addr().String()
	}
	return s.cfg.GRPCAddr
}

// errNoDatabase is returned by a Config with neither pool nor URL.
var errNoDatabase = errors.New("no database: give a pool or a database URL")

func (s *Server) openDatabase(ctx context.Context) error {
	pool := s.cfg.Pool
	if pool == nil {
		if s.cfg.DatabaseURL == "" {
			return errNoDatabase
		}
		cfg, err := txn.PoolConfig(s.cfg.DatabaseURL)
		if err != nil {
			return err
		}
		// Without an exporter, a span per query would only cost the hot path.
		if s.tel.ExportsTraces {
			cfg.ConnConfig.Tracer = telemetry.PgxTracer{T: s.tel.Traces.Tracer("github.com/coalition-loyalty/coalition/db")}
		}
		if pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return err
		}
		s.onClose(pool.Close)
	}
	s.pool = pool
	tx, err := txn.New(ctx, pool)
	if err != nil {
		return err
	}
	s.tx = tx
	s.metrics, err = telemetry.NewMetrics(s.tel.Meters, tx.Retries)
	return err
}

func (s *Server) checkSchema(ctx context.Context) error {
	if s.cfg.Migrate {
		if _, err := schema.Migrate(ctx, s.pool); err != nil {
			return err
		}
	}
	pending, err := schema.Pending(ctx, s.pool)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("the database lacks migrations %v: run coalitiond migrate", pending)
	}
	return nil
}

func (s *Server) buildDomain(context.Context) error {
	now := s.cfg.Now
	s.rules = rules.NewStore(rules.StoreConfig{Tx: s.tx, Clock: now})
	s.ledger = ledger.New(ledger.Config{Tx: s.tx, Phones: s.phones, Rules: s.rules, Clock: now, Lanes: s.cfg.Lanes,
		Tracer: s.tel.Traces.Tracer("github.com/coalition-loyalty/coalition/ledger")})
	if err := telemetry.ObserveBatches(s.tel.Meters, func() telemetry.BatchCounts {
		b := s.ledger.BatchStats()
		return telemetry.BatchCounts{Batches: b.Batches, Batched: b.Batched, Alone: b.Alone, Failed: b.Failed, ReadAhead: b.ReadAhead}
	}); err != nil {
		return err
	}
	s.partners = partners.New(partners.Config{Tx: s.tx, Clock: now})
	s.clearing = clearing.New(clearing.Config{Tx: s.tx, Clock: now})
	s.finance = finance.New(finance.Config{Tx: s.tx, Clock: now, Clearing: s.clearing, Ledger: s.ledger})
	s.analytics = analytics.New(analytics.Config{Tx: s.tx, Clock: now})
	s.segments = segments.New(segments.Config{Tx: s.tx, Clock: now, Tiers: segments.TiersOf(s.rules)})
	s.offers = offers.New(offers.Config{Tx: s.tx, Clock: now})
	return nil
}

func (s *Server) seedAndBootstrap(ctx context.Context) error {
	if s.cfg.Seed != nil {
		if err := s.cfg.Seed(ctx, s); err != nil {
			return err
		}
	}
	return s.ledger.Bootstrap(ctx, s.cfg.Settings)
}

// buildAuth decides who may call: with Vault, partners by client
// certificate and programs by API key (and dev credentials from loopback
// when asked); without, dev credentials only. People on the web pages come
// in by session either way: members from a partner's link, staff from a
// credential (a staff API key, so none without Vault).
func (s *Server) buildAuth(ctx context.Context) (err error) {
	var dev *rpc.DevAuthenticator
	if s.cfg.DevAuth {
		dev = &rpc.DevAuthenticator{Partners: s.partners}
	}
	var next rpc.Authenticator = dev
	s.authMode = "dev credentials, plaintext"
	sessCfg := sessions.Config{Tx: s.tx, Clock: s.cfg.CredentialClock}
	if s.sec != nil {
		// The first revocation list is read before serving: until then a
		// revoked certificate would pass.
		s.crl = &rpc.CRLCache{}
		if err := s.RefreshRevocations(ctx); err != nil {
			return err
		}
		s.keys = apikeys.New(apikeys.Config{Tx: s.tx, Hasher: s.sec.client, Clock: s.cfg.CredentialClock, CacheTTL: time.Minute, CacheSize: 10_000})
		sessCfg.Credentials = s.keys
		next = rpc.CertOrDev{
			MTLS: &rpc.MTLSAuthenticator{Roots: s.sec.pool, Intermediates: x509.NewCertPool(), Revocations: s.crl,
				Clock: s.cfg.CredentialClock},
			APIKeys: s.keys,
			Dev:     dev,
		}
		s.authMode = "client certificates from the coalition CA, API keys"
		if s.cfg.DevAuth {
			s.authMode += "; dev credentials from loopback"
		}
	}
	s.sessions = sessions.New(sessCfg)
	s.auth = rpc.SessionAuth{Sessions: s.sessions, Next: next}
	return nil
}

func (s *Server) buildGRPC(context.Context) error {
	opts := []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(s.tel.Traces), otelgrpc.WithMeterProvider(s.tel.Meters)))}
	if s.sec != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			GetCertificate: s.sec.cert.GetCertificate, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12,
		})))
	}
	s.publicURL = s.cfg.PublicURL
	if s.publicURL == "" {
		s.publicURL = "http://" + s.httpPublicAddr()
		if s.httpTLS() {
			s.publicURL = "https://" + s.httpPublicAddr()
		}
	}
	srv, hs, err := rpc.NewServer(rpc.Options{
		Ledger: s.ledger, Settlement: s.clearing, Finance: s.finance, Members: s.ledger, Partners: s.partners,
		Network: network.New(network.Config{Tx: s.tx, Partners: s.partners, Rules: s.rules, Clock: s.cfg.Now}), Links: s.sessions, PublicURL: s.publicURL,
		Rules: s.rules, Tiers: rpc.LedgerTiers{L: s.ledger}, Auth: s.auth, Log: s.log, ServerOptions: opts,
		Analytics: s.analytics, Segments: s.segments, Offers: s.offers,
		Readiness: s.ready, // requests tell it at once whether the database answered
	})
	if err != nil {
		return err
	}
	s.grpc, s.health = srv, hs
	// Stops a server that never ran; after Run's drain it does nothing.
	s.onClose(srv.Stop)
	return nil
}

// httpPublicAddr is the HTTP address as configured, so that links keep the
// host name people use; a port left to the system is the one it gave.
func (s *Server) httpPublicAddr() string {
	if s.httpLis == nil {
		return s.cfg.HTTPAddr
	}
	actual := s.httpLis.Addr().String()
	host, port, err := net.SplitHostPort(s.cfg.HTTPAddr)
	switch {
	case err != nil: // no address: a listener was given
		return actual
	case port != "0":
		return s.cfg.HTTPAddr
	case host == "":
		return actual
	}
	_, port, _ = net.SplitHostPort(actual)
	return net.JoinHostPort(host, port)
}

// listen opens the listeners, so that their addresses are known (and a
// port taken is reported) before anything is served.
func (s *Server) listen(context.Context) error {
	var err error
	if s.grpcLis, err = listenOn(s.cfg.GRPCListener, s.cfg.GRPCAddr); err != nil {
		return err
	}
	s.onClose(func() { s.grpcLis.Close() })
	if s.cfg.HTTPListener != nil || s.cfg.HTTPAddr != "" {
		if s.httpLis, err = listenOn(s.cfg.HTTPListener, s.cfg.HTTPAddr); err != nil {
			return err
		}
		s.onClose(func() { s.httpLis.Close() })
	}
	if s.cfg.AdminListener != nil || s.cfg.AdminAddr != "" {
		if s.adminLis, err = listenOn(s.cfg.AdminListener, s.cfg.AdminAddr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		s.onClose(func() { s.adminLis.Close() })
	}
	if s.cfg.PprofAddr != "" {
		return s.listenPprof()
	}
	return nil
}

func listenOn(given net.Listener, addr string) (net.Listener, error) {
	if given != nil {
		return given, nil
	}
	return net.Listen("tcp", addr)
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
