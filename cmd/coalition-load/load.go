package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// Config is one load run.
type Config struct {
	Targets     []string
	Partners    []string
	Requests    int
	Concurrency int
	Members     int
	CAFile      string
	Timeout     time.Duration
}

// Report is what a run measured.
type Report struct {
	Requests  int
	Elapsed   time.Duration
	ByCode    map[codes.Code]int
	Latencies map[string][]time.Duration
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %s: %.0f requests/s\n", r.Requests, r.Elapsed.Round(time.Millisecond), float64(r.Requests)/r.Elapsed.Seconds())
	for _, op := range []string{"accrue", "redeem", "balance"} {
		l := slices.Clone(r.Latencies[op])
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		fmt.Fprintf(&b, "  %-8s %6d  p50 %-8s p99 %s\n", op, len(l), l[len(l)/2].Round(10*time.Microsecond), l[len(l)*99/100].Round(10*time.Microsecond))
	}
	codesSeen := make([]codes.Code, 0, len(r.ByCode))
	for c := range r.ByCode {
		codesSeen = append(codesSeen, c)
	}
	slices.Sort(codesSeen)
	for _, c := range codesSeen {
		fmt.Fprintf(&b, "  %-20s %d\n", c, r.ByCode[c])
	}
	return b.String()
}

// Unexpected counts answers other than OK and the refusals a healthy
// coalition gives to a random workload (not enough points).
func (r Report) Unexpected() int {
	n := 0
	for c, k := range r.ByCode {
		if c != codes.OK && c != codes.FailedPrecondition {
			n += k
		}
	}
	return n
}

func loopbackOnly(targets []string) error {
	for _, t := range targets {
		host, _, err := net.SplitHostPort(t)
		if err != nil {
			return fmt.Errorf("target %q: %w", t, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("target %q is not a loopback address", t)
		}
	}
	return nil
}

// dial connects to every target with client-side round robin.
func dial(cfg Config) (*grpc.ClientConn, error) {
	if err := loopbackOnly(cfg.Targets); err != nil {
		return nil, err
	}
	r := manual.NewBuilderWithScheme("coalition")
	var addrs []resolver.Address
	for _, t := range cfg.Targets {
		addrs = append(addrs, resolver.Address{Addr: t})
	}
	r.InitialState(resolver.State{Addresses: addrs})
	creds := insecure.NewCredentials()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})
	}
	return grpc.NewClient("coalition:///replicas", grpc.WithResolvers(r), grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`))
}

// Run enrolls the members, then sends the requests.
func Run(ctx context.Context, cfg Config) (Report, error) {
	conn, err := dial(cfg)
	if err != nil {
		return Report{}, err
	}
	defer conn.Close()
	client := coalitionv1.NewPartnerServiceClient(conn)
	as := func(code string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Dev "+code)
	}
	run := fmt.Sprintf("%x", rand.Uint64())
	cards := make([]string, cfg.Members)
	for i := range cards {
		m, err := client.EnrollMember(as(cfg.Partners[i%len(cfg.Partners)]), &coalitionv1.EnrollMemberRequest{IdempotencyKey: fmt.Sprintf("load-%s-enroll-%d", run, i)})
		if err != nil {
			return Report{}, fmt.Errorf("enroll: %w", err)
		}
		cards[i] = m.Member.CardNumber
	}
	rep := Report{ByCode: map[codes.Code]int{}, Latencies: map[string][]time.Duration{}}
	var mu sync.Mutex
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for {
				i := next.Add(1)
				if int(i) > cfg.Requests || ctx.Err() != nil {
					return
				}
				partner := cfg.Partners[rng.IntN(len(cfg.Partners))]
				member := &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_CardNumber{CardNumber: cards[rng.IntN(len(cards))]}}
				key := fmt.Sprintf("load-%s-%d", run, i)
				var op string
				var err error
				t0 := time.Now()
				switch p := rng.IntN(10); {
				case p < 6:
					op = "accrue"
					_, err = client.Accrue(as(partner), &coalitionv1.AccrueRequest{IdempotencyKey: key, Member: member, OrderId: key,
						Purchase: &coalitionv1.Money{Minor: int64(1000 + rng.IntN(500_000)), Currency: "RUB"}})
				case p < 8:
					op = "redeem"
					_, err = client.Redeem(as(partner), &coalitionv1.RedeemRequest{IdempotencyKey: key, Member: member, OrderId: key,
						Points: int64(1 + rng.IntN(50))})
				default:
					op = "balance"
					_, err = client.GetBalance(as(partner), &coalitionv1.GetBalanceRequest{Member: member})
				}
				took := time.Since(t0)
				code := status.Code(err)
				if errors.Is(err, context.DeadlineExceeded) {
					code = codes.DeadlineExceeded
				}
				mu.Lock()
				rep.ByCode[code]++
				rep.Latencies[op] = append(rep.Latencies[op], took)
				rep.Requests++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	return rep, nil
}
