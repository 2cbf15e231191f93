package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/coalition-loyalty/coalition/coalition/demo"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestDevModeServesTheDemoAndLeavesNothingRunning runs `coalitiond dev` as a
// person would (in-process), reads a demo balance over gRPC, stops it as
// Ctrl-C does, and checks that PostgreSQL is gone; a second start reuses the
// data without seeding twice.
func TestDevModeServesTheDemoAndLeavesNothingRunning(t *testing.T) {
	dir, err := os.MkdirTemp("", "coalition-dev-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // the postgres user must reach it when tests run as root
	t.Cleanup(func() { os.RemoveAll(dir) })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	cfg := serverConfig{listen: addr, settings: demo.Settings, sweepInterval: time.Second, clearEvery: time.Minute}

	for run := 1; run <= 2; run++ {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runDev(ctx, cfg, dir) }()
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		var serving bool
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "coalition.v1.PartnerService"})
			if err == nil && res.Status == healthpb.HealthCheckResponse_SERVING {
				serving = true
				break
			}
		}
		if !serving {
			stop()
			t.Fatalf("run %d: dev mode did not start serving: %v", run, <-done)
		}
		call := metadata.AppendToOutgoingContext(ctx, "authorization", "Dev cafe")
		b, err := coalitionv1.NewPartnerServiceClient(conn).GetBalance(call, &coalitionv1.GetBalanceRequest{
			Member: &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_Phone{Phone: "+79160000001"}}})
		if err != nil {
			t.Fatalf("run %d: demo member's balance: %v", run, err)
		}
		// Anna: 120 at the café + 45 at the cinema − 100 at the fuel station.
		if b.Balance.Available != 65 {
			t.Fatalf("run %d: Anna has %d points, want 65 (seeded once)", run, b.Balance.Available)
		}
		conn.Close()
		stop()
		if err := <-done; err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		out, _ := exec.Command("pgrep", "-f", "postgres -D "+dir).Output()
		if strings.TrimSpace(string(out)) != "" {
			t.Fatalf("run %d: PostgreSQL still running after stop: %s", run, out)
		}
	}
}
