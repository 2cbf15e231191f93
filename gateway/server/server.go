// Package server assembles the coalition's server: from a Config it opens
// what the server needs (telemetry, Vault, the database, listeners), wires
// the domain into the gRPC, REST and web edges, and runs them with the
// readiness watcher, the credentials' renewal and the periodic jobs until
// its context ends. coalitiond and the tests build servers only through it,
// so that what the tests serve is what production serves.
package server

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/enrolment"
	"github.com/coalition-loyalty/coalition/coalition/infra/telemetry"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/infra/vault"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/passes"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/segments"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
	"github.com/coalition-loyalty/coalition/settlement/analytics"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

// Config is what a server is made of. The zero value of a field means the
// feature is off or takes its default, as each field says; Complete turns
// a Config into a Server ready to run.
type Config struct {
	// Pool is a database pool to use (the caller closes it); without one,
	// the server opens DatabaseURL and closes it when it stops.
	Pool        *pgxpool.Pool
	DatabaseURL string
	// Migrate brings the schema up to date at start (dev mode); otherwise
	// a database that lacks a migration is refused.
	Migrate bool

	// GRPCListener, when given, is served instead of listening on GRPCAddr;
	// so for HTTP. Tests pass listeners on 127.0.0.1:0.
	GRPCAddr     string
	GRPCListener net.Listener
	// HTTP serves the REST mirror and the web pages (with TLS when Vault
	// is configured), with /healthz and a /readyz that only says ready or
	// not; neither an address nor a listener: no HTTP at all.
	HTTPAddr     string
	HTTPListener net.Listener
	// HTTPPlaintext serves HTTP without TLS even with Vault, e.g. behind a
	// proxy that terminates TLS; without it, plain HTTP (no Vault) is
	// served only on a loopback address.
	HTTPPlaintext bool
	// Admin serves Prometheus metrics and the detailed /readyz; neither an
	// address nor a listener: off. Keep it off the public network.
	AdminAddr     string
	AdminListener net.Listener
	// PprofAddr serves Go's profiler on a loopback address ("": off).
	PprofAddr string
	// HTTPLimits bound every HTTP server the process runs.
	HTTPLimits HTTPLimits
	// PublicURL is where people open the web pages; member links point
	// there. Default: https:// (http:// without TLS) and the HTTP address
	// (with the port taken, if it asked for any). https:// marks cookies
	// Secure.
	PublicURL string
	// TLSHosts are the names and addresses in the server's TLS certificate
	// (with Vault).
	TLSHosts []string

	// Vault, when it has an address, authenticates partners by client
	// certificate and staff and programs by API key, serves TLS, and
	// hashes phone numbers.
	Vault VaultConfig
	// PartnerCA, when it names a credential (its address defaults to
	// Vault's), lets partners' admins issue and revoke their own client
	// certificates in the partner portal: a login whose policy is
	// coalition-partner-ca. None: the portal lists certificates, and the
	// operator issues and revokes them.
	PartnerCA VaultConfig
	// DevAuth accepts "authorization: Dev <partner-code>" from loopback
	// peers. Without Vault it is the only way in, so it is then allowed
	// only on a loopback address.
	DevAuth bool
	// PhoneHashKey keys the hash of phone numbers without Vault (32 bytes
	// or more).
	PhoneHashKey []byte
	// Wallet configures the members' Apple Wallet and Google Wallet
	// passes, whose credentials come from Vault.
	Wallet WalletConfig

	// Lanes is the ledger's number of group-commit lanes for accruals and redemptions
	// (zero: ledger.DefaultLanes(); negative: a transaction per posting).
	Lanes int

	// Join turns on self-enrolment by QR when it has a sender (join.go).
	Join JoinConfig

	// Settings are the coalition's terms, recorded on the first start.
	Settings ledger.Settings
	// How often the periodic jobs run; zero: the job does not run.
	SweepInterval       time.Duration // releasing expired holds
	MaintenanceInterval time.Duration // lots' expiry, tiers' review, purging lapsed sessions
	ClearingInterval    time.Duration // clearing ended business days
	// RevocationMaxAge: with Vault unreachable, the replica stays ready
	// until its revocation list is this old (zero: any age).
	RevocationMaxAge time.Duration

	// Now is the business clock: business days, rules in force, holds,
	// expiry, clearing and the network's figures (time.Now if nil).
	// Credentials and readiness always use the real time.
	Now func() time.Time
	// CredentialClock judges credentials: partners' client certificates,
	// API keys, web sessions and member links (time.Now if nil), by the
	// real time that Vault issues certificates and browsers keep cookies
	// by. Tests of credentials' lifetimes move it.
	CredentialClock func() time.Time

	// Telemetry are the providers to report to (the caller shuts them
	// down); nil: set up from the OTEL_* environment, shut down with the
	// server.
	Telemetry *telemetry.Telemetry
	// Log receives the server's logs (nil: slog.Default()).
	Log *slog.Logger

	// Seed runs once the schema is current and before the ledger records
	// Settings, so that it may record them itself, e.g. dev mode's demo
	// coalition with a history that starts in the past.
	Seed func(ctx context.Context, s *Server) error
}

// HTTPLimits bound what one HTTP client may take of the server: how big a
// request may be and how long its parts may take, so that a client that
// sends a huge body, or promises one and sends it slowly or never, holds
// neither memory nor a connection for long. Zero fields take the
// defaults.
type HTTPLimits struct {
	// MaxBodyBytes: a larger request body is refused with 413 (default
	// 1 MiB).
	MaxBodyBytes int64
	// MaxHeaderBytes: larger request headers are refused with 431 (default
	// 64 KiB).
	MaxHeaderBytes int
	// ReadHeaderTimeout is the time to read a request's headers (default
	// 10 s, or ReadTimeout if shorter), ReadTimeout the whole request, body
	// included (default 30 s).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	// WriteTimeout runs from the end of a request's headers to the end of
	// its answer (default 2 min; CSV reports stream within it).
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new request
	// (default 2 min).
	IdleTimeout time.Duration
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	or := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	l.ReadTimeout = or(l.ReadTimeout, 30*time.Second)
	l.ReadHeaderTimeout = or(l.ReadHeaderTimeout, min(10*time.Second, l.ReadTimeout))
	l.WriteTimeout = or(l.WriteTimeout, 2*time.Minute)
	l.IdleTimeout = or(l.IdleTimeout, 2*time.Minute)
	return l
}

// VaultConfig says where Vault is and how the server logs in: AppRole,
// else Kubernetes, else a token. No address: the server runs without Vault.
type VaultConfig struct {
	Addr             string
	RoleID, SecretID string
	Kubernetes       vault.KubernetesLogin
	Token            string
	// HashTimeout bounds a phone number's or an API key's keyed hash,
	// which a request waits on (zero: vault.DefaultHashTimeout).
	HashTimeout time.Duration
}

// Server is a completed Config: everything opened and wired, nothing
// served yet. Run serves it; Close releases it without serving.
type Server struct {
	cfg Config
	log *slog.Logger
	// life bounds what runs in the background from Complete on (Vault's
	// token renewal), ended by Close.
	life context.Context

	closeMu sync.Mutex
	closers []func() // in the order opened; Close runs them backwards

	tel      *telemetry.Telemetry
	metrics  *telemetry.Metrics
	pool     *pgxpool.Pool
	tx       *txn.Runner
	phones   phone.Hasher
	sec      *security // nil without Vault
	crl      *rpc.CRLCache
	keys     *apikeys.Store // nil without Vault
	auth     rpc.Authenticator
	authMode string

	ledger   *ledger.Ledger
	rules    *rules.Store
	partners *partners.Register
	clearing *clearing.Clearing
	finance  *finance.Finance
	sessions *sessions.Store
	passes   *passes.Service // nil: no wallet passes

	// analytics are the figures rolled up after clearing.
	analytics *analytics.Analytics
	// segments are members' RFM scores and segments, computed after it.
	segments *segments.Segments
	// offers are the personal offers and coupons the ledger applies.
	offers *offers.Store

	// enrolment is self-enrolment by QR; nil when it is off.
	enrolment *enrolment.Service

	grpc      *grpc.Server
	health    *health.Server
	grpcLis   net.Listener
	http      *http.Server // nil: no HTTP
	httpLis   net.Listener
	publicURL string
	admin     *http.Server // nil: no admin listener
	adminLis  net.Listener
	pprof     *http.Server // nil: no profiler
	pprofLis  net.Listener
	ready     *readiness.Checker
}

// Complete opens and wires everything the Config names, in the order a
// failure is cheapest to report: Vault and the phone hash before the
// database, the database before the listeners. On error, what was opened
// is closed again.
func (c Config) Complete(ctx context.Context) (_ *Server, err error) {
	s := &Server{cfg: c.withDefaults()}
	s.log = s.cfg.Log
	life, end := context.WithCancel(context.WithoutCancel(ctx))
	s.life = life
	s.onClose(end)
	// Until Complete returns, the caller's ctx may still abort the start.
	detach := context.AfterFunc(ctx, end)
	defer detach()
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	steps := []func(context.Context) error{
		s.openTelemetry, s.connectVault, s.checkHTTPPlaintext, s.choosePhoneHasher, s.openDatabase, s.checkSchema,
		s.buildDomain, s.seedAndBootstrap, s.buildAuth, s.buildEnrolment, s.listen, s.buildReadiness, s.buildGRPC, s.buildWallet, s.buildHTTP, s.buildAdmin,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (c Config) withDefaults() Config {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CredentialClock == nil {
		c.CredentialClock = time.Now
	}
	c.HTTPLimits = c.HTTPLimits.withDefaults()
	c.Wallet = c.Wallet.withDefaults()
	return c
}

// onClose puts f on the close stack.
func (s *Server) onClose(f func()) {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.closers = append(s.closers, f)
}

// Close stops the server at once, without draining (Run drains), and
// releases what Complete opened, last opened first. Calling it again does
// nothing.
func (s *Server) Close() {
	s.closeMu.Lock()
	closers := s.closers
	s.closers = nil
	s.closeMu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
}

// GRPCAddr is the address the gRPC server listens on.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the address of the REST mirror and the web pages ("": none).
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// HTTPTLS says whether the REST mirror and the web pages are served with
// TLS.
func (s *Server) HTTPTLS() bool { return s.httpTLS() }

// AdminAddr is the address of the metrics and the detailed readiness
// ("": none).
func (s *Server) AdminAddr() string {
	if s.adminLis == nil {
		return ""
	}
	return s.adminLis.Addr().String()
}

// PprofAddr is the address of Go's profiler ("": none).
func (s *Server) PprofAddr() string {
	if s.pprofLis == nil {
		return ""
	}
	return s.pprofLis.Addr().String()
}

// PublicURL is where people open the web pages.
func (s *Server) PublicURL() string { return s.publicURL }

// TLS says whether the gRPC server serves TLS (with Vault) rather than
// plaintext.
func (s *Server) TLS() bool { return s.sec != nil }

// CAPool is the coalition's CA that signs the server's certificate (nil
// without Vault).
func (s *Server) CAPool() *x509.CertPool {
	if s.sec == nil {
		return nil
	}
	return s.sec.pool
}

// Pool is the database pool.
func (s *Server) Pool() *pgxpool.Pool { return s.pool }

// Tx runs the server's serializable transactions.
func (s *Server) Tx() *txn.Runner { return s.tx }

// Phones hashes phone numbers as the ledger does.
func (s *Server) Phones() phone.Hasher { return s.phones }

// Clock is the business clock.
func (s *Server) Clock() func() time.Time { return s.cfg.Now }

// Ledger is the points ledger.
func (s *Server) Ledger() *ledger.Ledger { return s.ledger }

// Rules are the versioned loyalty rules.
func (s *Server) Rules() *rules.Store { return s.rules }

// Partners is the partners' register.
func (s *Server) Partners() *partners.Register { return s.partners }

// Clearing clears settlement windows and reads their reports.
func (s *Server) Clearing() *clearing.Clearing { return s.clearing }

// Finance is the server's finance operations.
func (s *Server) Finance() *finance.Finance { return s.finance }

// Analytics reads the partners' and the network's figures.
func (s *Server) Analytics() *analytics.Analytics { return s.analytics }

// Segments defines and computes member segments.
func (s *Server) Segments() *segments.Segments { return s.segments }

// Offers makes and lists personal offers and their coupons.
func (s *Server) Offers() *offers.Store { return s.offers }

// Sessions holds web sessions and member links.
func (s *Server) Sessions() *sessions.Store { return s.sessions }

// APIKeys issues and checks API keys and staff credentials (nil without
// Vault, which keys their hashes).
func (s *Server) APIKeys() *apikeys.Store { return s.keys }
