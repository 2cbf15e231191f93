package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// start is 12:00 in Moscow, so the business day is the UTC date.
var start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

const (
	today       = "2026-03-10"
	pointsTTL   = 365 // days, for every partner
	fuelPending = 14 * 24 * time.Hour
)

// env is a coalition served over a real gRPC connection: the server as
// coalitiond assembles it without Vault (dev credentials, on a loopback
// port), a real ledger on a fresh PostgreSQL database, and a client
// dialled to it.
type env struct {
	t        *testing.T
	pool     *pgxpool.Pool
	clock    *clock.Manual
	partners *partners.Register
	client   pb.PartnerServiceClient
	settle   pb.SettlementServiceClient
	member   pb.MemberServiceClient
	network  pb.NetworkServiceClient
	clearing *clearing.Clearing
	sessions *sessions.Store
	conn     *grpc.ClientConn
	// A café paying 5 % back with no return window, a cinema paying 3 %, and
	// a fuel chain paying 1 % whose points stay pending for 14 days.
	cafe, cinema, fuel partners.Partner
	keys               int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	c := clock.NewManual(start)
	// Member links run on the business clock too, so that a test can watch
	// them lapse.
	srv := servertest.Start(t, server.Config{
		Pool:            pool,
		DevAuth:         true,
		PhoneHashKey:    servertest.PhoneHashKey,
		Settings:        ledger.Settings{Name: "Test", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
		PublicURL:       "https://coalition.example",
		Now:             c.Now,
		CredentialClock: c.Now,
	})
	reg := srv.Partners()
	add := func(code string, bp int64, window time.Duration) partners.Partner {
		p, err := reg.Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: bp, ReturnWindow: window, PointsTTLDays: pointsTTL})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	e := &env{t: t, pool: pool, clock: c, partners: reg, clearing: srv.Clearing(), sessions: srv.Sessions(),
		cafe: add("cafe", 500, 0), cinema: add("cinema", 300, 0), fuel: add("fuel", 100, fuelPending)}
	var err error
	e.conn, err = grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.conn.Close() })
	e.client = pb.NewPartnerServiceClient(e.conn)
	e.settle = pb.NewSettlementServiceClient(e.conn)
	e.member = pb.NewMemberServiceClient(e.conn)
	e.network = pb.NewNetworkServiceClient(e.conn)
	// Whatever a test did over the wire, the ledger's invariants still hold.
	t.Cleanup(func() {
		breaches, err := srv.Ledger().Check(context.Background(), time.Hour)
		if err != nil {
			t.Errorf("ledger check: %v", err)
		}
		for _, b := range breaches {
			t.Errorf("ledger check: %s: %s", b.Invariant, b.Detail)
		}
	})
	return e
}

// as returns a context carrying a partner's dev credentials, with a deadline
// so that a hung server fails the test instead of stalling it.
func (e *env) as(code string) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Dev "+code)
}

// anonymous is a context without credentials.
func (e *env) anonymous() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

func (e *env) key() string {
	e.keys++
	return fmt.Sprintf("key-%d", e.keys)
}

func rub(minor int64) *pb.Money { return &pb.Money{Minor: minor, Currency: "RUB"} }

func byID(m *pb.Member) *pb.MemberRef {
	return &pb.MemberRef{Ref: &pb.MemberRef_MemberId{MemberId: m.GetId()}}
}

func byCard(number string) *pb.MemberRef {
	return &pb.MemberRef{Ref: &pb.MemberRef_CardNumber{CardNumber: number}}
}

func byPhone(e164 string) *pb.MemberRef { return &pb.MemberRef{Ref: &pb.MemberRef_Phone{Phone: e164}} }

func byQR(token string) *pb.MemberRef {
	return &pb.MemberRef{Ref: &pb.MemberRef_QrToken{QrToken: token}}
}

func (e *env) enroll(code string) *pb.Member {
	e.t.Helper()
	res, err := e.client.EnrollMember(e.as(code), &pb.EnrollMemberRequest{IdempotencyKey: e.key()})
	if err != nil {
		e.t.Fatalf("enroll at %s: %v", code, err)
	}
	return res.GetMember()
}

func (e *env) accrue(code string, m *pb.Member, minor int64) *pb.AccrueResponse {
	e.t.Helper()
	res, err := e.client.Accrue(e.as(code), &pb.AccrueRequest{IdempotencyKey: e.key(), Member: byID(m), Purchase: rub(minor), OrderId: e.key()})
	if err != nil {
		e.t.Fatalf("accrue %d at %s: %v", minor, code, err)
	}
	return res
}

func (e *env) redeem(code string, m *pb.Member, points int64) *pb.Transaction {
	e.t.Helper()
	res, err := e.client.Redeem(e.as(code), &pb.RedeemRequest{IdempotencyKey: e.key(), Member: byID(m), Points: points, OrderId: e.key()})
	if err != nil {
		e.t.Fatalf("redeem %d at %s: %v", points, code, err)
	}
	return res.GetTransaction()
}

func (e *env) authorize(code string, m *pb.Member, points int64) *pb.Hold {
	e.t.Helper()
	res, err := e.client.Authorize(e.as(code), &pb.AuthorizeRequest{IdempotencyKey: e.key(), Member: byID(m), Points: points, OrderId: e.key()})
	if err != nil {
		e.t.Fatalf("authorize %d at %s: %v", points, code, err)
	}
	return res.GetHold()
}

func (e *env) balance(m *pb.Member) *pb.Balance {
	e.t.Helper()
	res, err := e.client.GetBalance(e.as("cafe"), &pb.GetBalanceRequest{Member: byID(m)})
	if err != nil {
		e.t.Fatalf("balance: %v", err)
	}
	return res.GetBalance()
}

// wantBalance compares the parts of a balance a partner's till shows.
func (e *env) wantBalance(m *pb.Member, available, pending, held, debt int64) {
	e.t.Helper()
	b := e.balance(m)
	if b.GetAvailable() != available || b.GetPending() != pending || b.GetHeld() != held || b.GetDebt() != debt {
		e.t.Fatalf("balance = available %d, pending %d, held %d, debt %d; want %d, %d, %d, %d",
			b.GetAvailable(), b.GetPending(), b.GetHeld(), b.GetDebt(), available, pending, held, debt)
	}
}

// rows is what the ledger has written: row counts of every table a request
// may add to, and the state of the rows a request may change.
type rows struct {
	Transactions    int
	Entries         int
	Lots            int
	Consumptions    int
	Holds           int
	Debts           int
	Members         int
	IdempotencyKeys int    // keys of postings; a refusal records only its key, as refused
	LotsRemaining   int64  // changed by every burn and refund
	HoldStates      string // status/captured of each hold, changed by capture and void
}

// written reads rows, to prove that a refused request wrote nothing but
// the record of its refusal under its key.
func (e *env) written() rows {
	e.t.Helper()
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// The pool turns sequential scans off (see txn.PoolConfig); the planner
	// then prices this full read so high that PostgreSQL compiles it with
	// JIT, which costs more than the query.
	if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
		e.t.Fatal(err)
	}
	var r rows
	err = tx.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM transactions),
		       (SELECT count(*) FROM entries),
		       (SELECT count(*) FROM lots),
		       (SELECT count(*) FROM lot_consumptions),
		       (SELECT count(*) FROM holds),
		       (SELECT count(*) FROM member_debts),
		       (SELECT count(*) FROM members),
		       (SELECT count(*) FROM idempotency_keys WHERE outcome = 'posted'),
		       (SELECT COALESCE(sum(remaining), 0) FROM lots),
		       (SELECT COALESCE(string_agg(status || '/' || captured_points, ',' ORDER BY id), '') FROM holds)`).Scan(
		&r.Transactions, &r.Entries, &r.Lots, &r.Consumptions, &r.Holds, &r.Debts, &r.Members, &r.IdempotencyKeys,
		&r.LotsRemaining, &r.HoldStates)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// wantNothingWritten fails if anything changed since before.
func (e *env) wantNothingWritten(before rows) {
	e.t.Helper()
	if after := e.written(); after != before {
		e.t.Fatalf("a refused request wrote:\nbefore %+v\nafter  %+v", before, after)
	}
}

// wantStatus asserts a gRPC error's code and, when field is not empty, that
// it carries google.rpc.BadRequest field violations all for that field (one
// field may break several rules: empty and not matching its pattern).
func wantStatus(t testing.TB, err error, code codes.Code, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error = %v, not a gRPC status", err)
	}
	if st.Code() != code {
		t.Fatalf("status = %s %q, want %s", st.Code(), st.Message(), code)
	}
	if field == "" {
		return
	}
	got := violations(st)
	if len(got) == 0 || slices.ContainsFunc(got, func(f string) bool { return f != field }) {
		t.Fatalf("field violations = %q (%s), want only %q", got, st.Message(), field)
	}
}

// violations lists the fields named by a status's BadRequest details.
func violations(st *status.Status) []string {
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// errOf keeps the error of a call, for tables of calls that must fail.
func errOf[T any](_ T, err error) error { return err }
