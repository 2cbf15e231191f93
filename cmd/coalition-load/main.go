// Command coalition-load drives a coalition with partner traffic — enroll,
// accrue, redeem, balance — from several partners at once, against one or
// more coalitiond replicas (round robin on the client side), for a bounded
// number of requests, and reports throughput, latency and errors by code.
// It targets loopback addresses only. With -warmup it first gives every
// member a history (accruals, and so open lots) before timing; with -cards
// it keeps its members in a file, to trade with the same regulars in later
// runs.
//
//	go run ./cmd/coalition-load -targets 127.0.0.1:7443 -cacert .dev/partners/cafe/ca.pem -requests 5000
//	go run ./cmd/coalition-load -cacert .dev/partners/cafe/ca.pem -members 64 -warmup 200 -cards /tmp/regulars -requests 0
//	go run ./cmd/coalition-load -cacert .dev/partners/cafe/ca.pem -cards /tmp/regulars -requests 0 -duration 30s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	var cfg Config
	targets := flag.String("targets", "127.0.0.1:7443", "comma-separated gRPC addresses (loopback only)")
	partners := flag.String("partners", "cafe,cinema,fuel", "partner codes to act as (dev credentials)")
	flag.IntVar(&cfg.Requests, "requests", 5000, "requests to send in all (0 with -duration: as many as fit)")
	flag.DurationVar(&cfg.Duration, "duration", 0, "send for this long (0: until -requests are sent)")
	mix := flag.String("mix", "accrue=6,redeem=2,balance=2", "weights of the operations, e.g. accrue=1 for accruals only")
	flag.StringVar(&cfg.MetricsURL, "metrics", "", "a replica's Prometheus endpoint (e.g. http://127.0.0.1:9464/metrics, on coalitiond --admin-listen), read before and after for the ledger's retries")
	flag.IntVar(&cfg.Concurrency, "concurrency", 16, "requests in flight at once")
	flag.IntVar(&cfg.Conns, "conns", 1, "connections the requests in flight share, each over its own TLS session (-conns equal to -concurrency: one each, as pgbench's clients)")
	flag.Float64Var(&cfg.Rate, "rate", 0, "requests per second in all, paced, latencies counted from each request's due time (0: as fast as answers come)")
	flag.IntVar(&cfg.Members, "members", 200, "members to enroll and trade with")
	flag.StringVar(&cfg.CAFile, "cacert", "", "CA bundle of the server's certificate (TLS); empty: plaintext")
	flag.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "stop after this long whatever is left")
	flag.IntVar(&cfg.Warmup, "warmup", 0, "accruals per member before the timed run, to trade with regulars (with -requests 0 and no -duration: only these)")
	flag.StringVar(&cfg.CardsFile, "cards", "", "file of the members' card numbers: read if it exists (no enrolment), else written after enrolling")
	flag.IntVar(&cfg.DatabasePID, "db-pid", 0, "the database's postmaster process id on this machine, to report the CPU time it and its backends use per request (from /proc)")
	flag.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process id on this machine, to report its CPU time per request and its memory (from /proc)")
	stub := flag.Bool("stub", false, "instead of -targets, an in-process server: the server's gRPC stack with TLS on a ledger that answers from memory (the transport's ceiling, no database)")
	flag.Parse()
	m, err := ParseMix(*mix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coalition-load:", err)
		os.Exit(2)
	}
	cfg.Mix = m
	cfg.Targets = strings.Split(*targets, ",")
	cfg.Partners = strings.Split(*partners, ",")
	if *stub {
		addr, caPEM, stop, err := startStub(nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "coalition-load: stub:", err)
			os.Exit(1)
		}
		defer stop()
		cfg.Targets, cfg.CAFile, cfg.CAPEM, cfg.MetricsURL, cfg.ServerPID, cfg.DatabasePID = []string{addr}, "", caPEM, "", 0, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coalition-load:", err)
		os.Exit(1)
	}
	rep.ClientServes = *stub
	fmt.Print(rep)
}
