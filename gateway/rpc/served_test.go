package rpc_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// served is the coalition as gateway/server assembles it, over a database
// the caller provides, for tests that need what newEnv does not give: a
// database they can take away (an outage), a lifetime beyond one test (a
// fuzz target's), Vault, or a client of their own (a service config).
type served struct {
	*servertest.Server
	pool    *pgxpool.Pool
	conn    *grpc.ClientConn
	partner pb.PartnerServiceClient
	settle  pb.SettlementServiceClient
	admin   pb.AdminServiceClient
}

// serve starts a server on pool with cfg (its defaults: dev credentials,
// a local phone hash, the test coalition's terms and clock), adds the café,
// the cinema and the fuel chain of newEnv, and dials it with dial.
func serve(tb testing.TB, pool *pgxpool.Pool, cfg server.Config, dial ...grpc.DialOption) *served {
	tb.Helper()
	cfg.Pool, cfg.DevAuth = pool, true
	if cfg.Vault.Addr == "" {
		cfg.PhoneHashKey = servertest.PhoneHashKey
	}
	cfg.Settings = ledger.Settings{Name: "Test", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}
	if cfg.Now == nil {
		cfg.Now = clock.NewManual(start).Now
	}
	srv := servertest.Start(tb, cfg)
	ctx := context.Background()
	for _, p := range []partners.Partner{
		{Code: "cafe", EarnRateBP: 500}, {Code: "cinema", EarnRateBP: 300}, {Code: "fuel", EarnRateBP: 100, ReturnWindow: fuelPending},
	} {
		p.Name, p.Kind, p.PointsTTLDays = p.Code, p.Code, pointsTTL
		if _, err := srv.Partners().Add(ctx, p); err != nil {
			tb.Fatal(err)
		}
	}
	creds := insecure.NewCredentials()
	if srv.TLS() {
		creds = credentials.NewTLS(&tls.Config{RootCAs: srv.CAPool(), ServerName: "localhost"})
	}
	conn, err := grpc.NewClient(srv.GRPCAddr(), append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, dial...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &served{Server: srv, pool: pool, conn: conn, partner: pb.NewPartnerServiceClient(conn),
		settle: pb.NewSettlementServiceClient(conn), admin: pb.NewAdminServiceClient(conn)}
}

// as is a context with dev credentials ("cafe", "role=operator") and a
// deadline, so that a hung server fails the test instead of stalling it.
func as(tb testing.TB, cred string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Dev "+cred)
}
