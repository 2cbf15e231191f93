package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// testStub starts a stub server on l (nil: one that answers at once) for
// the test, and stops it when the test ends.
func testStub(t *testing.T, l *stubLedger) (addr string, caPEM []byte) {
	t.Helper()
	addr, caPEM, stop, err := startStub(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr, caPEM
}

// TestTheStubAnswersThePartnerMixOverTLS runs the partner mix against the
// stub server, its workers on three connections: every request passes the
// server's interceptors over TLS and is answered OK, with no database.
func TestTheStubAnswersThePartnerMixOverTLS(t *testing.T) {
	addr, caPEM := testStub(t, nil)
	rep, err := Run(context.Background(), Config{Targets: []string{addr}, CAPEM: caPEM, Partners: []string{"cafe", "cinema"},
		Requests: 300, Concurrency: 8, Conns: 3, Members: 20, ServerPID: os.Getpid()}) // the stub serves in this process
	if err != nil {
		t.Fatal(err)
	}
	if rep.ByCode[codes.OK] != 300 || len(rep.Latencies["redeem"]) == 0 {
		t.Fatalf("answers %v, latencies of %d operations; want 300 OK over the mix", rep.ByCode, len(rep.Latencies))
	}
	if rep.Server == nil || rep.Server.RSS <= 0 {
		t.Fatalf("server usage %+v, want it read from /proc", rep.Server)
	}
}

// TestARatePacesTheRequests: at 100 requests/s the 50th request is due
// 0.49 s after the start, so the run cannot end before then, however fast
// the server answers.
func TestARatePacesTheRequests(t *testing.T) {
	addr, caPEM := testStub(t, nil)
	rep, err := Run(context.Background(), Config{Targets: []string{addr}, CAPEM: caPEM, Partners: []string{"cafe"},
		Requests: 50, Concurrency: 8, Members: 5, Rate: 100, Mix: map[string]int{"accrue": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ByCode[codes.OK] != 50 || rep.Elapsed < 490*time.Millisecond {
		t.Fatalf("%v in %s; want 50 OK, paced over at least 490 ms", rep.ByCode, rep.Elapsed)
	}
}

// TestAStallIsReportedWithItsTime: in a paced run, the 20th request (due
// 0.19 s after the start) waits 150 ms in the server. The report counts
// it as stalled and says when: due no later than 0.19 s into the run,
// answered no earlier than 0.34 s.
func TestAStallIsReportedWithItsTime(t *testing.T) {
	stub := &stubLedger{stall: func(order string) time.Duration {
		if strings.HasSuffix(order, "-20") {
			return 150 * time.Millisecond
		}
		return 0
	}}
	addr, caPEM := testStub(t, stub)
	rep, err := Run(context.Background(), Config{Targets: []string{addr}, CAPEM: caPEM, Partners: []string{"cafe"},
		Requests: 40, Concurrency: 4, Members: 5, Rate: 100, Mix: map[string]int{"accrue": 1}})
	if err != nil {
		t.Fatal(err)
	}
	due := rep.Start.Add(190 * time.Millisecond)
	if rep.Stalled < 1 || rep.StalledFrom.After(due) || rep.StalledTo.Before(due.Add(150*time.Millisecond)) {
		t.Fatalf("%d stalled from %s to %s into the run; want the 20th request's stall, due at 0.19 s, in it",
			rep.Stalled, rep.StalledFrom.Sub(rep.Start), rep.StalledTo.Sub(rep.Start))
	}
	if !strings.Contains(rep.String(), "slower than 100ms: ") {
		t.Fatalf("the report does not tell of the stall:\n%s", rep)
	}
}
