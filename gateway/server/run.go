package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/coalition-loyalty/coalition/coalition/jobs"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

// Run serves until ctx ends or serving fails, then drains in-flight
// requests and releases everything (as Close does). It returns nil when
// ctx ended it.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// A drain that comes first stops the server before it serves.
		if err := s.grpc.Serve(s.grpcLis); !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	})
	s.log.Info("serving gRPC", "addr", s.GRPCAddr(), "auth", s.authMode)
	if s.http != nil {
		g.Go(func() error {
			if s.httpTLS() {
				// The certificate comes from TLSConfig.GetCertificate.
				return unlessClosed(s.http.ServeTLS(s.httpLis, "", ""))
			}
			return unlessClosed(s.http.Serve(s.httpLis))
		})
		s.log.Info("serving REST and web pages", "addr", s.HTTPAddr(), "tls", s.httpTLS(), "public_url", s.publicURL)
	}
	if s.admin != nil {
		g.Go(func() error { return unlessClosed(s.admin.Serve(s.adminLis)) })
		s.log.Info("serving metrics and readiness details", "addr", s.AdminAddr())
	}
	if s.pprof != nil {
		g.Go(func() error { return unlessClosed(s.pprof.Serve(s.pprofLis)) })
		s.log.Info("serving the Go profiler", "addr", s.pprofLis.Addr().String())
	}
	g.Go(func() error { s.ready.Watch(ctx, 5*time.Second); return nil })
	if s.sec != nil {
		g.Go(func() error { s.refreshRevocations(ctx); return nil })
		g.Go(func() error { s.sec.cert.Renew(ctx, s.log); return nil })
	}
	s.runJobs(ctx, g)
	g.Go(func() error { <-ctx.Done(); s.drain(); return nil })
	return g.Wait()
}

// drain stops taking requests and lets those in flight finish: load
// balancers see the replica unready first, then HTTP stops, then gRPC
// finishes its calls, for 15 seconds at most.
func (s *Server) drain() {
	s.log.Info("shutting down: draining in-flight requests")
	s.health.Shutdown()
	if s.http != nil {
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.http.Shutdown(shutdown)
		cancel()
	}
	if s.admin != nil {
		s.admin.Close()
	}
	if s.pprof != nil {
		s.pprof.Close()
	}
	drained := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(15 * time.Second):
		s.grpc.Stop()
	}
}

func unlessClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// refreshRevocations keeps the revocation list fresh; while Vault is away
// the last list stays in force and every failure is counted.
func (s *Server) refreshRevocations(ctx context.Context) {
	s.crl.Refresh(ctx, 30*time.Second, s.readRevocations, func(err error) {
		s.metrics.VaultErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("operation", "crl")))
		s.log.Warn("refresh the revocation list (keeping the last one)", "error", err)
	})
}

// runJobs starts the periodic jobs whose interval is set. The hold sweep
// waits for its first tick; the others run at once, so that a replica that
// restarts catches up.
func (s *Server) runJobs(ctx context.Context, g *errgroup.Group) {
	work := &jobs.Jobs{Ledger: s.ledger, Sessions: s.sessions, Clearing: clearingJob{s.clearing}, Payments: paymentsJob{s.finance},
		Analytics: s.analytics, Segments: s.segments, Metrics: s.metrics, Log: s.log}
	if s.enrolment != nil {
		work.Enrolment = s.enrolment
	}
	for _, j := range []struct {
		every time.Duration
		first bool
		pass  func(context.Context)
	}{
		{s.cfg.SweepInterval, false, work.SweepHolds},
		{s.cfg.MaintenanceInterval, true, work.Maintain},
		{s.cfg.ClearingInterval, true, work.ClearDue},
		{s.passOutboxInterval(), true, s.passes.DeliverDue},
		{s.passDailyInterval(), true, s.passDaily},
	} {
		if j.every > 0 {
			g.Go(func() error { jobs.Every(ctx, j.every, j.first, j.pass); return nil })
		}
	}
}

// paymentsJob is finance as the clearing job sees it: it counts what it
// made.
type paymentsJob struct{ f *finance.Finance }

func (j paymentsJob) MakeInstructions(ctx context.Context) (int, error) {
	made, err := j.f.MakeInstructions(ctx)
	return len(made), err
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
