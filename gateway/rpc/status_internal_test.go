package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition"
)

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestStatusOfEachKindOfFailure: what a client is told for each way a
// request can fail below the domain. The database's failures are the
// errors pgx returns, wrapped as the ledger wraps them.
func TestStatusOfEachKindOfFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, refused := pgconn.Connect(ctx, "postgres://coalition@"+closedPort(t)+"/coalition?sslmode=disable&connect_timeout=5")
	if refused == nil {
		t.Fatal("connected to a closed port")
	}
	pg := func(code string) error {
		return fmt.Errorf("accrue: load context: %w", &pgconn.PgError{Severity: "FATAL", Code: code, Message: "…"})
	}
	cases := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"connection refused", fmt.Errorf("balance: %w", refused), codes.Unavailable, ReasonDatabaseUnavailable},
		{"connection lost mid-statement", fmt.Errorf("accrue: %w", io.ErrUnexpectedEOF), codes.Unavailable, ReasonDatabaseUnavailable},
		{"network error", fmt.Errorf("accrue: %w", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}),
			codes.Unavailable, ReasonDatabaseUnavailable},
		{"administrator shutdown (57P01)", pg("57P01"), codes.Unavailable, ReasonDatabaseUnavailable},
		{"crash shutdown (57P02)", pg("57P02"), codes.Unavailable, ReasonDatabaseUnavailable},
		{"starting up (57P03)", pg("57P03"), codes.Unavailable, ReasonDatabaseUnavailable},
		{"connection failure (08006)", pg("08006"), codes.Unavailable, ReasonDatabaseUnavailable},
		{"cannot establish (08001)", pg("08001"), codes.Unavailable, ReasonDatabaseUnavailable},
		{"too many connections (53300)", pg("53300"), codes.Unavailable, ReasonDatabaseUnavailable},
		{"read-only standby after a failover (25006)", pg("25006"), codes.Unavailable, ReasonDatabaseUnavailable},
		{"serialization conflicts past the retries", fmt.Errorf("transaction still conflicting after 100 attempts: %w",
			&pgconn.PgError{Code: "40001"}), codes.Aborted, ReasonConflict},
		{"NUL in text (22021)", pg("22021"), codes.InvalidArgument, ""},
		{"a unique violation nobody expected", pg("23505"), codes.Internal, ""},
		{"a plain error", errors.New("something broke"), codes.Internal, ""},
		{"a domain error", coalition.Errorf(coalition.FailedPrecondition, "points", "not enough points"), codes.FailedPrecondition, ""},
	}
	log := slog.New(slog.DiscardHandler)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := toStatus(context.Background(), log, "Test", tc.err)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("%v became %s %q, want %s", tc.err, st.Code(), st.Message(), tc.code)
			}
			if got := reasonOf(err); got != tc.reason {
				t.Fatalf("reason %q, want %q", got, tc.reason)
			}
		})
	}
	// The caller's own deadline or cancellation explains a failure after
	// it, even one that looks like the database's.
	done, stop := context.WithCancel(context.Background())
	stop()
	if code := status.Code(toStatus(done, log, "Test", fmt.Errorf("x: %w", io.ErrUnexpectedEOF))); code != codes.Canceled {
		t.Fatalf("a cancelled request is told %s", code)
	}
}
