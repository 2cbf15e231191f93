// Package servertest runs a coalition server for a test, assembled by
// gateway/server exactly as coalitiond assembles it, and stops it when the
// test ends.
package servertest

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/coalition-loyalty/coalition/gateway/server"
)

// PhoneHashKey keys the phone hash of test servers without Vault.
var PhoneHashKey = []byte("test-only phone hash key, 32+ bytes long")

// Server is a server running for a test.
type Server struct {
	*server.Server
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	t      testing.TB
}

// Start completes cfg and runs the server until Stop or the end of the
// test. Left empty, the gRPC server listens on a free loopback port and
// the server logs warnings and errors to the test's output.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	if cfg.GRPCAddr == "" && cfg.GRPCListener == nil {
		cfg.GRPCAddr = "127.0.0.1:0"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := cfg.Complete(ctx)
	if err != nil {
		cancel()
		t.Fatalf("start the server: %v", err)
	}
	s := &Server{Server: srv, cancel: cancel, done: make(chan error, 1), t: t}
	go func() { s.done <- srv.Run(ctx) }()
	t.Cleanup(s.Stop)
	return s
}

// Stop drains the server as SIGTERM does and returns once it has stopped:
// calls in flight have finished, and their spans and metrics are recorded.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cancel()
		if err := <-s.done; err != nil {
			s.t.Errorf("the server failed: %v", err)
		}
	})
}
