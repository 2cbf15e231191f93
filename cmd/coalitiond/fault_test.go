package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgcluster"
	"github.com/coalition-loyalty/coalition/coalition/infra/schema"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// serveEnv, when set, makes the test binary run coalitiond with the
// arguments in it instead of the tests: the fault test's server is a real
// process that it can kill.
const serveEnv = "COALITION_TEST_SERVE_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(serveEnv); args != "" {
		os.Args = append([]string{"coalitiond"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestNothingAcknowledgedIsLostWhenTheDatabaseAndTheServerDie runs a bank-
// style workload (8 tills accruing and redeeming with recorded keys) while
// PostgreSQL is crashed (pg_ctl stop -m immediate) and restarted, and the
// server is killed (SIGKILL) and restarted. Tills retry what was not
// acknowledged with the same key. Afterwards every acknowledged posting is
// on the ledger exactly once, replays return the original, each member's
// balance is the sum of what was acknowledged, the ledger check is clean,
// the codes seen during the outages were ones a client may retry, and the
// server served again within 2 s of the database coming back, without a
// restart. COALITION_FAULT_OPS sets the operations per till (long form).
func TestNothingAcknowledgedIsLostWhenTheDatabaseAndTheServerDie(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: a few thousand operations")
	}
	opsPerTill := 250
	if n, err := strconv.Atoi(os.Getenv("COALITION_FAULT_OPS")); err == nil && n > 0 {
		opsPerTill = n
	}
	ctx := context.Background()
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Stop() })
	if err := cluster.CreateDatabase(ctx, "fault", ""); err != nil {
		t.Fatal(err)
	}
	url := cluster.URL("fault")
	runner, err := txn.Open(ctx, url+"&pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runner.Pool().Close)
	if _, err := schema.Migrate(ctx, runner.Pool()); err != nil {
		t.Fatal(err)
	}
	l := ledger.New(ledger.Config{Tx: runner})
	settings := ledger.Settings{Name: "Fault", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}
	if err := l.Bootstrap(ctx, settings); err != nil {
		t.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: runner})
	for _, p := range []partners.Partner{
		{Code: "cafe", Name: "Cafe", Kind: "cafe", EarnRateBP: 1_000, PointsTTLDays: 365},
		{Code: "cinema", Name: "Cinema", Kind: "cinema", EarnRateBP: 500, PointsTTLDays: 365},
	} {
		if _, err := reg.Add(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	srv := &faultServer{t: t, dir: t.TempDir(), args: []string{"serve", "--database-url", url, "--dev-auth", "--listen", addr,
		"--http-listen", "", "--admin-listen", "", "--phone-hash-key", hex.EncodeToString(key), "--coalition-name", settings.Name,
		"--hold-sweep-interval", "0", "--clearing-interval", "0"}}
	srv.start()
	t.Cleanup(srv.kill)
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(srv.dir, "coalitiond.log")); err == nil {
				t.Logf("server log:\n%s", b[max(0, len(b)-8000):])
			}
		}
	})

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := coalitionv1.NewPartnerServiceClient(conn)
	as := func(ctx context.Context, partner string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Dev "+partner)
	}
	// call sends one request until it is answered with anything but a code
	// a client retries, the way a till does, and records the retryable
	// codes it met.
	var codesMu sync.Mutex
	seen := map[codes.Code]int{}
	call := func(f func(ctx context.Context) error) error {
		for attempt := 0; ; attempt++ {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := f(cctx)
			cancel()
			if err == nil {
				return nil
			}
			code := status.Code(err)
			switch code {
			case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded:
				codesMu.Lock()
				seen[code]++
				codesMu.Unlock()
				if attempt > 600 {
					return fmt.Errorf("still %v after %d attempts", err, attempt)
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return err
		}
	}

	const members = 8
	var cards []string
	for i := range members {
		var res *coalitionv1.EnrollMemberResponse
		if err := call(func(ctx context.Context) (err error) {
			res, err = client.EnrollMember(as(ctx, "cafe"), &coalitionv1.EnrollMemberRequest{IdempotencyKey: fmt.Sprintf("enroll-%d", i)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		cards = append(cards, res.GetMember().GetCardNumber())
	}

	type ack struct {
		txID   string
		card   string
		points int64
	}
	var (
		mu     sync.Mutex
		acks   []ack
		replay []func() error // re-sends of acknowledged requests, each checking its answer
	)
	const tills int32 = 8
	done := make(chan struct{})
	var wg sync.WaitGroup
	var marks [2]atomic.Int32 // tills a third of the way, and two thirds
	for w := range tills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			third := opsPerTill / 3
			for i := range opsPerTill {
				if i == third {
					marks[0].Add(1)
				}
				if i == 2*third {
					marks[1].Add(1)
				}
				card := cards[rng.IntN(members)]
				ref := &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_CardNumber{CardNumber: card}}
				id := fmt.Sprintf("till%d-%d", w, i)
				if rng.IntN(10) < 6 {
					req := &coalitionv1.AccrueRequest{IdempotencyKey: id, Member: ref, OrderId: id,
						Purchase: &coalitionv1.Money{Minor: int64(1_000 + rng.IntN(100_000)), Currency: "RUB"}}
					var res *coalitionv1.AccrueResponse
					err := call(func(ctx context.Context) (err error) { res, err = client.Accrue(as(ctx, "cafe"), req); return err })
					if err != nil {
						t.Errorf("accrue %s: %v", id, err)
						continue
					}
					tx := res.GetTransaction()
					mu.Lock()
					acks = append(acks, ack{tx.GetId(), card, tx.GetPoints()})
					replay = append(replay, func() error {
						again, err := client.Accrue(as(ctx, "cafe"), req)
						if err == nil && again.GetTransaction().GetId() != tx.GetId() {
							err = fmt.Errorf("replay of %s answered %s, first %s", id, again.GetTransaction().GetId(), tx.GetId())
						}
						return err
					})
					mu.Unlock()
					continue
				}
				req := &coalitionv1.RedeemRequest{IdempotencyKey: id, Member: ref, OrderId: id, Points: int64(1 + rng.IntN(40))}
				var res *coalitionv1.RedeemResponse
				err := call(func(ctx context.Context) (err error) { res, err = client.Redeem(as(ctx, "cinema"), req); return err })
				if status.Code(err) == codes.FailedPrecondition {
					continue // not enough points: refused, and recorded so
				}
				if err != nil {
					t.Errorf("redeem %s: %v", id, err)
					continue
				}
				tx := res.GetTransaction()
				mu.Lock()
				acks = append(acks, ack{tx.GetId(), card, tx.GetPoints()})
				mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	// A third of the way: PostgreSQL crashes and comes back.
	waitFor(&marks[0], tills, done)
	if err := cluster.Crash(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // tills meet the outage
	if err := cluster.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	probe := &coalitionv1.GetBalanceRequest{Member: &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_CardNumber{CardNumber: cards[0]}}}
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.GetBalance(as(pctx, "cafe"), probe)
		cancel()
		if err == nil {
			break
		}
		if time.Since(back) > 2*time.Second {
			t.Fatalf("the server did not serve within 2 s of the database coming back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("serving again %v after the database came back", time.Since(back).Round(time.Millisecond))

	// Two thirds of the way: the server is killed and started again.
	waitFor(&marks[1], tills, done)
	srv.kill()
	time.Sleep(500 * time.Millisecond)
	srv.start()
	<-done

	// Every acknowledged posting is on the ledger exactly once.
	ids := make([]string, len(acks))
	want := map[string]int64{}
	for i, a := range acks {
		ids[i] = a.txID
		want[a.card] += a.points
	}
	var stored int
	if err := runner.Pool().QueryRow(ctx, `SELECT count(*) FROM transactions WHERE id::TEXT = ANY($1)`, ids).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	var all int
	if err := runner.Pool().QueryRow(ctx, `SELECT count(*) FROM transactions`).Scan(&all); err != nil {
		t.Fatal(err)
	}
	if stored != len(acks) || all != len(acks) {
		t.Fatalf("%d postings acknowledged, %d of them stored, %d stored in all", len(acks), stored, all)
	}
	// Replays answer with the original.
	for i, r := range replay {
		if i%10 != 0 {
			continue
		}
		if err := call(func(context.Context) error { return r() }); err != nil {
			t.Error(err)
		}
	}
	// Balances are the sums of what was acknowledged.
	for _, card := range cards {
		var b *coalitionv1.GetBalanceResponse
		if err := call(func(ctx context.Context) (err error) {
			b, err = client.GetBalance(as(ctx, "cafe"), &coalitionv1.GetBalanceRequest{
				Member: &coalitionv1.MemberRef{Ref: &coalitionv1.MemberRef_CardNumber{CardNumber: card}}})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got := b.GetBalance().GetAvailable() + b.GetBalance().GetPending(); got != want[card] {
			t.Errorf("card %s holds %d points, acknowledged postings sum to %d", card, got, want[card])
		}
	}
	breaches, err := l.Check(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range breaches {
		t.Errorf("ledger check: %s: %s", b.Invariant, b.Detail)
	}
	if len(seen) == 0 {
		t.Error("no till met an outage: the faults did not land during the workload")
	}
	t.Logf("%d postings acknowledged; retryable answers met: %v", len(acks), seen)
}

// waitFor waits until every till has passed a mark, or the workload ended.
func waitFor(mark *atomic.Int32, tills int32, done <-chan struct{}) {
	for mark.Load() < tills {
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// faultServer is coalitiond as a child process: the test binary itself,
// told by serveEnv to run main.
type faultServer struct {
	t    *testing.T
	dir  string // the server's log, coalitiond.log
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

func (s *faultServer) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	joined := ""
	for i, a := range s.args {
		if i > 0 {
			joined += "\x1f"
		}
		joined += a
	}
	cmd.Env = append(os.Environ(), serveEnv+"="+joined)
	log, err := os.OpenFile(filepath.Join(s.dir, "coalitiond.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
}

func (s *faultServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	s.cmd = nil
}
