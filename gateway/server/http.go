package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/gateway/rest"
	"github.com/coalition-loyalty/coalition/gateway/rpc"
	"github.com/coalition-loyalty/coalition/gateway/server/readiness"
	"github.com/coalition-loyalty/coalition/gateway/wallet"
	"github.com/coalition-loyalty/coalition/gateway/web"
)

// buildHTTP serves the REST mirror and the web pages, with TLS from the
// server's Vault certificate unless plaintext was asked for, beside the
// probes a load balancer needs: /healthz and a /readyz that says ready or
// not and nothing more. Both call the gRPC server on its own address, so
// that every request passes the same interceptors as a partner's.
// partnerKeys is the API key store for the partner portal, or nil (the
// portal's pages answer unavailable) on a server without Vault.
func (s *Server) partnerKeys() web.PartnerKeys {
	if s.keys == nil {
		return nil
	}
	return s.keys
}

func (s *Server) buildHTTP(ctx context.Context) error {
	if s.httpLis == nil {
		return nil
	}
	creds := insecure.NewCredentials()
	if s.sec != nil {
		creds = credentials.NewTLS(&tls.Config{RootCAs: s.sec.pool, ServerName: "localhost"})
	}
	conn, err := grpc.NewClient(s.grpcLis.Addr().String(), grpc.WithTransportCredentials(creds),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(s.tel.Traces), otelgrpc.WithMeterProvider(s.tel.Meters))))
	if err != nil {
		return err
	}
	s.onClose(func() { conn.Close() })
	api, err := rest.Handler(s.life, conn)
	if err != nil {
		return err
	}
	terms, err := s.ledger.Terms(ctx)
	if err != nil {
		return err
	}
	zone, err := time.LoadLocation(terms.TimeZone)
	if err != nil {
		return fmt.Errorf("coalition time zone: %w", err)
	}
	certs, err := s.partnerCerts()
	if err != nil {
		return err
	}
	site, err := web.Handler(web.Config{PartnerCerts: certs, Conn: conn, Sessions: s.sessions, Secure: strings.HasPrefix(s.publicURL, "https://"), Zone: zone, Log: s.log, Terms: memberTerms{s},
		Now: s.cfg.Now, PublicURL: s.publicURL, Join: s.joinPages(terms.Name),
		PartnerNames: func(ctx context.Context) (map[string]string, error) {
			ps, err := s.partners.List(ctx)
			if err != nil {
				return nil, err
			}
			m := make(map[string]string, len(ps))
			for _, p := range ps {
				m[p.Code] = p.Name
			}
			return m, nil
		},
		PartnerKeys: s.partnerKeys(),
		PartnerOf: func(ctx context.Context, id coalition.PartnerID) (string, string, error) {
			p, err := s.partners.ByID(ctx, id)
			if err == nil && p.Status != "active" {
				// A suspended partner's staff manage nothing either.
				err = coalition.Errorf(coalition.PermissionDenied, "partner", "partner %s is %s", p.Code, p.Status)
			}
			return p.Code, p.Name, err
		}})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	mux.Handle("GET /openapi.json", api)
	mux.Handle("/", rest.WithRequestID(site))
	if s.passes != nil {
		passes, err := wallet.Handler(wallet.Config{Passes: s.passes, Sessions: s.sessions, Log: s.log})
		if err != nil {
			return err
		}
		for _, p := range wallet.Paths {
			mux.Handle(p, rest.WithRequestID(passes))
		}
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", s.ready.ServeVerdict)
	s.http = s.newHTTPServer(rest.LimitBody(s.cfg.HTTPLimits.MaxBodyBytes, mux))
	if s.httpTLS() {
		s.http.TLSConfig = &tls.Config{GetCertificate: s.sec.cert.GetCertificate, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// buildAdmin serves what is for the operator's tools, not for the
// public: Prometheus metrics, and /readyz with every check's details (the
// Vault token's and the certificate's expiry, errors), beside /healthz.
func (s *Server) buildAdmin(context.Context) error {
	if s.adminLis == nil {
		return nil
	}
	mux := http.NewServeMux()
	// Providers given by a caller may have no Prometheus endpoint.
	if s.tel.Metrics != nil {
		mux.Handle("GET /metrics", s.tel.Metrics)
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /readyz", s.ready)
	s.admin = s.newHTTPServer(mux)
	return nil
}

func healthz(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }

// httpTLS says whether the REST mirror and the web pages are served with
// TLS: with Vault, unless plaintext was asked for.
func (s *Server) httpTLS() bool { return s.sec != nil && !s.cfg.HTTPPlaintext }

// checkHTTPPlaintext refuses to carry API keys, session cookies and sign-in
// credentials in clear beyond the machine unless told to, e.g. behind a
// proxy that terminates TLS.
func (s *Server) checkHTTPPlaintext(context.Context) error {
	addr := s.cfg.HTTPAddr
	if s.cfg.HTTPListener != nil {
		addr = s.cfg.HTTPListener.Addr().String()
	}
	if addr == "" || s.httpTLS() || s.cfg.HTTPPlaintext || loopback(addr) {
		return nil
	}
	return fmt.Errorf("--http-listen %s: REST and the web pages would carry API keys and sessions in plain HTTP: "+
		"configure Vault (for TLS), listen on a loopback address, or pass --http-plaintext behind a proxy that terminates TLS", addr)
}

// newHTTPServer is an HTTP server within the configured limits; every one
// the process runs is made here.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	l := s.cfg.HTTPLimits
	return &http.Server{Handler: h, MaxHeaderBytes: l.MaxHeaderBytes, ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout: l.ReadTimeout, WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout}
}

// buildReadiness makes the checker behind /readyz, whose verdict the gRPC
// health service follows, so that load balancers of either protocol see
// the same. It is made before the gRPC server, which tells it of every
// request's outcome. It judges credentials by the real time, not the business
// clock: certificates and tokens expire in the real world.
func (s *Server) buildReadiness(context.Context) error {
	s.ready = &readiness.Checker{Database: s.pool.Ping, Now: time.Now, Log: s.log, VaultErrors: s.metrics.VaultErrors,
		OnChange: s.setServing}
	if s.sec != nil {
		s.ready.Vault = &readiness.Vault{Check: s.sec.client.Check, CertExpiry: s.sec.cert.NotAfter, CertMargin: 10 * time.Minute,
			CRL: &s.sec.crlRead, CRLMaxAge: s.cfg.RevocationMaxAge}
	}
	return s.ready.RegisterMetrics(s.tel.Meters.Meter("github.com/coalition-loyalty/coalition"))
}

// setServing reports every service serving or not to gRPC health checks.
func (s *Server) setServing(ok bool) {
	status := healthpb.HealthCheckResponse_SERVING
	if !ok {
		status = healthpb.HealthCheckResponse_NOT_SERVING
	}
	for _, svc := range append([]string{""}, rpc.Services...) {
		s.health.SetServingStatus(svc, status)
	}
}
