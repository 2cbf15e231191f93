package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"slices"
	"strconv"
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
	Requests    int           // requests to send; with Duration, at most this many (0: no limit)
	Duration    time.Duration // send for this long (0: until Requests are sent)
	Concurrency int
	// Conns is how many connections the workers share, each its own
	// HTTP/2 connection over its own TLS session (0: one), worker w on
	// connection w mod Conns; with one per worker, as pgbench's clients
	// each have their own, every till its own connection.
	Conns int
	// Rate, if positive, paces the requests: request i is due at i/Rate
	// seconds after the start, and its latency counts from then, so that
	// a server falling behind shows in the latencies (an open-loop load,
	// no coordinated omission). Zero: each worker sends as soon as its
	// previous request is answered.
	Rate    float64
	Members int
	CAFile  string
	// CAPEM is the CA bundle itself, instead of CAFile.
	CAPEM   []byte
	Timeout time.Duration
	// Mix weighs the operations (accrue, redeem, balance); nil is 6:2:2.
	Mix map[string]int
	// MetricsURL is a replica's Prometheus endpoint, read before and after
	// the run for the ledger's retried transactions ("" skips it).
	MetricsURL string
	// Warmup is how many accruals each member makes after enrolling and
	// before the timed run, one member after another (0: none): the run
	// then meets regulars, with a history and many open lots (the warm-up
	// redeems nothing). With neither Requests nor Duration, the warm-up is
	// all there is.
	Warmup int
	// CardsFile keeps the members between runs: when it exists, its card
	// numbers (one a line) are the members and none is enrolled; otherwise
	// the members enrolled are written to it ("": enroll for every run).
	CardsFile string
	// ServerPID is the server's process on this machine (0: none): its CPU
	// time over the timed run and its memory are read from /proc.
	ServerPID int
	// DatabasePID is the database's postmaster on this machine (0: none):
	// the CPU time it and its backends use over the timed run.
	DatabasePID int
}

// Report is what a run measured.
type Report struct {
	Requests  int
	Elapsed   time.Duration
	ByCode    map[codes.Code]int
	Latencies map[string][]time.Duration
	// Retries is how many ledger transactions the servers re-ran for
	// serialization conflicts during the run (-1: not measured).
	Retries int64
	// Batches, Batched and Alone: the group-commit lanes' transactions
	// during the run, the postings (accruals, redemptions) they applied,
	// and those they left to a transaction of their own; ReadAhead the
	// batches that read their members' state with their locks.
	Batches, Batched, Alone, ReadAhead int64
	// Members traded with; WarmedUp accruals made before the run, in
	// WarmupElapsed.
	Members       int
	WarmedUp      int
	WarmupElapsed time.Duration
	// Server is what the server process used in the timed run (CPU) and
	// its memory at the end (nil: not measured).
	Server *usage
	// Database is the CPU time the database's processes used in the timed
	// run (0: not measured); Client the CPU time of this process, the load
	// itself (and the stub's server, with ClientServes).
	Database, Client time.Duration
	ClientServes     bool
	// Start is when the timed run began; Stalled counts the requests
	// slower than StallThreshold, the first of which was due at
	// StalledFrom and the last answered at StalledTo: where a paced run's
	// p99 comes from a stall, when it was (for the database's and the
	// server's logs).
	Start                  time.Time
	Stalled                int
	StalledFrom, StalledTo time.Time
}

// StallThreshold is the latency past which a request counts as stalled:
// five times the p99 a run at half load is meant to keep.
const StallThreshold = 100 * time.Millisecond

// Throughput is requests per second.
func (r Report) Throughput() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r Report) String() string {
	var b strings.Builder
	if r.WarmedUp > 0 {
		fmt.Fprintf(&b, "warm-up (not timed): %d accruals, %d per member, in %s: %.0f/s\n", r.WarmedUp, r.WarmedUp/max(r.Members, 1),
			r.WarmupElapsed.Round(time.Millisecond), float64(r.WarmedUp)/r.WarmupElapsed.Seconds())
	}
	if r.Elapsed == 0 {
		return b.String() // a warm-up only
	}
	fmt.Fprintf(&b, "%d requests in %s: %.0f requests/s\n", r.Requests, r.Elapsed.Round(time.Millisecond), r.Throughput())
	for _, op := range operations {
		l := slices.Clone(r.Latencies[op])
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		fmt.Fprintf(&b, "  %-8s %6d  %6.0f/s  p50 %-8s p90 %-8s p99 %s\n", op, len(l), float64(len(l))/r.Elapsed.Seconds(),
			l[len(l)/2].Round(10*time.Microsecond), l[len(l)*9/10].Round(10*time.Microsecond), l[len(l)*99/100].Round(10*time.Microsecond))
	}
	if r.Retries >= 0 {
		fmt.Fprintf(&b, "  ledger transactions retried: %d\n", r.Retries)
	}
	if r.Batches > 0 {
		fmt.Fprintf(&b, "  postings batched: %d in %d batches (%.1f per batch, %d read ahead), %d alone\n",
			r.Batched, r.Batches, float64(r.Batched)/float64(r.Batches), r.ReadAhead, r.Alone)
	}
	if u := r.Server; u != nil {
		fmt.Fprintf(&b, "  server: %.2f ms CPU per request, RSS %d MB (peak %d MB)\n",
			float64(u.CPU.Microseconds())/1000/float64(max(r.Requests, 1)), u.RSS>>20, u.PeakRSS>>20)
	}
	if r.Database > 0 {
		fmt.Fprintf(&b, "  database: %.2f ms CPU per request\n", float64(r.Database.Microseconds())/1000/float64(max(r.Requests, 1)))
	}
	if r.Client > 0 {
		who := "client"
		if r.ClientServes {
			who = "client and stub server"
		}
		fmt.Fprintf(&b, "  %s: %.2f ms CPU per request\n", who, float64(r.Client.Microseconds())/1000/float64(max(r.Requests, 1)))
	}
	if r.Stalled > 0 {
		at := func(t time.Time) string { return t.UTC().Format("15:04:05.000") }
		fmt.Fprintf(&b, "  slower than %s: %d requests, due from %s to answered at %s UTC (%.2f-%.2f s into the run)\n",
			StallThreshold, r.Stalled, at(r.StalledFrom), at(r.StalledTo),
			r.StalledFrom.Sub(r.Start).Seconds(), r.StalledTo.Sub(r.Start).Seconds())
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
	if cfg.CAFile != "" || cfg.CAPEM != nil {
		pem := cfg.CAPEM
		if cfg.CAFile != "" {
			var err error
			if pem, err = os.ReadFile(cfg.CAFile); err != nil {
				return nil, err
			}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("no CA certificate in the bundle")
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})
	}
	return grpc.NewClient("coalition:///replicas", grpc.WithResolvers(r), grpc.WithTransportCredentials(creds),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig": [{"round_robin": {}}]}`))
}

// operations are what the generator sends, in the order of its report.
var operations = []string{"accrue", "redeem", "balance"}

// ParseMix reads "accrue=6,redeem=2,balance=2" (any subset; weights ≥ 0,
// not all zero).
func ParseMix(s string) (map[string]int, error) {
	mix := map[string]int{}
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		op, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 || !slices.Contains(operations, op) {
			return nil, fmt.Errorf("mix %q: want op=weight with op one of %v and a weight ≥ 0", part, operations)
		}
		mix[op] = n
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("mix %q: no operation has a weight", s)
	}
	return mix, nil
}

// pick draws an operation by the mix's weights.
func pick(mix map[string]int, rng *rand.Rand) string {
	total := 0
	for _, op := range operations {
		total += mix[op]
	}
	n := rng.IntN(total)
	for _, op := range operations {
		if n < mix[op] {
			return op
		}
		n -= mix[op]
	}
	return operations[0]
}

// ledgerCounters are the server's ledger counters a run reports.
type ledgerCounters struct {
	Retries, Batches, Batched, Alone, ReadAhead int64
}

func (c ledgerCounters) minus(d ledgerCounters) ledgerCounters {
	return ledgerCounters{c.Retries - d.Retries, c.Batches - d.Batches, c.Batched - d.Batched, c.Alone - d.Alone, c.ReadAhead - d.ReadAhead}
}

// counters reads the ledger's counters, each summed over its series, from
// a Prometheus text endpoint on loopback: retried transactions, and the
// group-commit lanes' batches and postings (batched or alone), which a
// server with batching off does not report.
func counters(ctx context.Context, url string) (ledgerCounters, error) {
	var c ledgerCounters
	u, err := neturl.Parse(url)
	if err != nil {
		return c, err
	}
	if err := loopbackOnly([]string{u.Host}); err != nil {
		return c, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return c, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return c, fmt.Errorf("%s: %s", url, res.Status)
	}
	found := false
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		var into *int64
		switch {
		case strings.HasPrefix(line, "coalition_ledger_transaction_retries"):
			into, found = &c.Retries, true
		case strings.HasPrefix(line, "coalition_ledger_batches_read_ahead"):
			into = &c.ReadAhead
		case strings.HasPrefix(line, "coalition_ledger_batches"):
			into = &c.Batches
		case strings.HasPrefix(line, "coalition_ledger_postings") && strings.Contains(line, `path="batched"`):
			into = &c.Batched
		case strings.HasPrefix(line, "coalition_ledger_postings") && strings.Contains(line, `path="alone"`):
			into = &c.Alone
		default:
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return c, fmt.Errorf("%s: %q: %w", url, line, err)
		}
		*into += int64(v)
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if !found {
		return c, fmt.Errorf("%s has no coalition_ledger_transaction_retries", url)
	}
	return c, nil
}

// inParallel calls f(0), …, f(n-1) from up to workers goroutines, in
// order of i, and returns the first error; no call starts after it.
func inParallel(n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					if failed.CompareAndSwap(false, true) {
						errs <- err
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// members returns the card numbers of the members to trade with: those of
// cfg.CardsFile if it exists, else cfg.Members new ones (written to
// cfg.CardsFile if one is named).
func members(ctx context.Context, client coalitionv1.PartnerServiceClient, cfg Config, run string) ([]string, error) {
	if cfg.CardsFile != "" {
		b, err := os.ReadFile(cfg.CardsFile)
		if err == nil {
			cards := strings.Fields(string(b))
			if len(cards) == 0 {
				return nil, fmt.Errorf("%s has no card numbers", cfg.CardsFile)
			}
			return cards, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	cards := make([]string, cfg.Members)
	err := inParallel(len(cards), cfg.Concurrency, func(i int) error {
		m, err := client.EnrollMember(as(ctx, cfg.Partners[i%len(cfg.Partners)]),
			&coalitionv1.EnrollMemberRequest{IdempotencyKey: fmt.Sprintf("load-%s-enroll-%d", run, i)})
		if err != nil {
			return fmt.Errorf("enroll: %w", err)
		}
		cards[i] = m.Member.CardNumber
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cfg.CardsFile != "" {
		if err := os.WriteFile(cfg.CardsFile, []byte(strings.Join(cards, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	return cards, nil
}

// warmup makes perMember accruals for every member. Accrual i is member
// i mod len(cards)'s, so that the requests in flight at once are of
// different members (as many as there are members) and each member's
// purchases are spread over the warm-up, at the partners in turn.
func warmup(ctx context.Context, client coalitionv1.PartnerServiceClient, cfg Config, run string, cards []string, perMember int) error {
	return inParallel(len(cards)*perMember, cfg.Concurrency, func(i int) error {
		partner := cfg.Partners[(i/len(cards))%len(cfg.Partners)]
		key := fmt.Sprintf("load-%s-warm-%d", run, i)
		_, err := client.Accrue(as(ctx, partner), &coalitionv1.AccrueRequest{IdempotencyKey: key, OrderId: key,
			Member:   &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_CardNumber{CardNumber: cards[i%len(cards)]}},
			Purchase: &coalitionv1.Money{Minor: int64(1000 + rand.IntN(500_000)), Currency: "RUB"}})
		if err != nil {
			return fmt.Errorf("warm-up accrual at %s: %w", partner, err)
		}
		return nil
	})
}

// as is ctx with a partner's dev credentials.
func as(ctx context.Context, code string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Dev "+code)
}

// Run enrolls the members (or reads them from cfg.CardsFile), warms them
// up if asked, then sends the requests.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Mix == nil {
		cfg.Mix = map[string]int{"accrue": 6, "redeem": 2, "balance": 2}
	}
	if cfg.Requests <= 0 && cfg.Duration <= 0 && cfg.Warmup <= 0 {
		return Report{}, errors.New("give a number of requests, a duration, a warm-up, or several")
	}
	clients := make([]coalitionv1.PartnerServiceClient, max(cfg.Conns, 1))
	for i := range clients {
		conn, err := dial(cfg)
		if err != nil {
			return Report{}, err
		}
		defer conn.Close()
		clients[i] = coalitionv1.NewPartnerServiceClient(conn)
	}
	client := clients[0]
	run := fmt.Sprintf("%x", rand.Uint64())
	cards, err := members(ctx, client, cfg, run)
	if err != nil {
		return Report{}, err
	}
	rep := Report{ByCode: map[codes.Code]int{}, Latencies: map[string][]time.Duration{}, Retries: -1, Members: len(cards)}
	if cfg.Warmup > 0 {
		start := time.Now()
		if err := warmup(ctx, client, cfg, run, cards, cfg.Warmup); err != nil {
			return Report{}, err
		}
		rep.WarmedUp, rep.WarmupElapsed = len(cards)*cfg.Warmup, time.Since(start)
	}
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return rep, nil
	}
	var countersBefore ledgerCounters
	if cfg.MetricsURL != "" {
		if countersBefore, err = counters(ctx, cfg.MetricsURL); err != nil {
			return Report{}, fmt.Errorf("metrics: %w", err)
		}
	}
	var usedBefore usage
	if cfg.ServerPID > 0 {
		if usedBefore, err = readUsage(cfg.ServerPID); err != nil {
			return Report{}, fmt.Errorf("server process: %w", err)
		}
	}
	var dbBefore time.Duration
	if cfg.DatabasePID > 0 {
		if dbBefore, err = treeCPU(cfg.DatabasePID); err != nil {
			return Report{}, fmt.Errorf("database process: %w", err)
		}
	}
	clientBefore := selfCPU()
	var mu sync.Mutex
	var next atomic.Int64
	start := time.Now()
	rep.Start = start
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	var wg sync.WaitGroup
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			client := clients[w%len(clients)]
			for {
				i := next.Add(1)
				if (cfg.Requests > 0 && int(i) > cfg.Requests) || (!deadline.IsZero() && time.Now().After(deadline)) || ctx.Err() != nil {
					return
				}
				partner := cfg.Partners[rng.IntN(len(cfg.Partners))]
				member := &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_CardNumber{CardNumber: cards[rng.IntN(len(cards))]}}
				key := fmt.Sprintf("load-%s-%d", run, i)
				var err error
				op := pick(cfg.Mix, rng)
				t0 := time.Now()
				if cfg.Rate > 0 {
					due := start.Add(time.Duration(float64(i-1) / cfg.Rate * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
					t0 = due
				}
				switch op {
				case "accrue":
					_, err = client.Accrue(as(ctx, partner), &coalitionv1.AccrueRequest{IdempotencyKey: key, Member: member, OrderId: key,
						Purchase: &coalitionv1.Money{Minor: int64(1000 + rng.IntN(500_000)), Currency: "RUB"}})
				case "redeem":
					_, err = client.Redeem(as(ctx, partner), &coalitionv1.RedeemRequest{IdempotencyKey: key, Member: member, OrderId: key,
						Points: int64(1 + rng.IntN(50))})
				default:
					_, err = client.GetBalance(as(ctx, partner), &coalitionv1.GetBalanceRequest{Member: member})
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
				if took > StallThreshold {
					if rep.Stalled == 0 || t0.Before(rep.StalledFrom) {
						rep.StalledFrom = t0
					}
					if end := t0.Add(took); end.After(rep.StalledTo) {
						rep.StalledTo = end
					}
					rep.Stalled++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	rep.Client = selfCPU() - clientBefore
	if cfg.DatabasePID > 0 {
		after, err := treeCPU(cfg.DatabasePID)
		if err != nil {
			return rep, fmt.Errorf("database process: %w", err)
		}
		rep.Database = after - dbBefore
	}
	if cfg.ServerPID > 0 {
		u, err := readUsage(cfg.ServerPID)
		if err != nil {
			return rep, fmt.Errorf("server process: %w", err)
		}
		u.CPU -= usedBefore.CPU
		rep.Server = &u
	}
	if cfg.MetricsURL != "" {
		// The counter is updated as each transaction ends, before its
		// answer is sent, so every retry of the run is in it by now.
		after, err := counters(ctx, cfg.MetricsURL)
		if err != nil {
			return rep, fmt.Errorf("metrics: %w", err)
		}
		c := after.minus(countersBefore)
		rep.Retries, rep.Batches, rep.Batched, rep.Alone, rep.ReadAhead = c.Retries, c.Batches, c.Batched, c.Alone, c.ReadAhead
	}
	return rep, nil
}
