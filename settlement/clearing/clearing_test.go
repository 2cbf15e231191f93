package clearing_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/netting"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type fixture struct {
	t                  *testing.T
	ctx                context.Context
	runner             *txn.Runner
	clock              *clock.Manual
	l                  *ledger.Ledger
	cafe, cinema, fuel partners.Partner
	n                  int
}

var (
	moscow, _ = time.LoadLocation("Europe/Moscow")
	day1      = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	day2      = day1.AddDate(0, 0, 1)
)

func bp(n int64) *int64 { return &n }

// newFixture is a coalition whose terms make every fee visible: 1 %
// interchange (1.5 % for the cinema), 0.5 % on points issued, 20 % of
// breakage. Partner ids are fixed, so that two fixtures that post the same
// traffic produce byte-identical reports.
func newFixture(t *testing.T) *fixture {
	ctx := context.Background()
	runner, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewManual(time.Date(2026, 3, 10, 12, 0, 0, 0, moscow))
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	f := &fixture{t: t, ctx: ctx, runner: runner, clock: c, l: ledger.New(ledger.Config{Tx: runner, Clock: c.Now, Phones: hasher})}
	if err := f.l.Bootstrap(ctx, ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100,
		InterchangeFeeBP: 100, IssueFeeBP: 50, BreakageShareBP: 2000}); err != nil {
		t.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: runner, Clock: c.Now})
	add := func(id, code string, earn int64, ttl int, interchange *int64) partners.Partner {
		p, err := reg.Add(ctx, partners.Partner{ID: coalition.PartnerID(uuid.MustParse(id)), Code: code, Name: code, Kind: code, EarnRateBP: earn,
			PointsTTLDays: ttl, InterchangeFeeBP: interchange})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.cafe = add("00000000-0000-0000-0000-00000000000a", "cafe", 500, 365, nil)
	f.cinema = add("00000000-0000-0000-0000-00000000000b", "cinema", 300, 365, bp(150))
	f.fuel = add("00000000-0000-0000-0000-00000000000c", "fuel", 100, 1, nil)
	return f
}

func (f *fixture) key() string { f.n++; return fmt.Sprintf("k%d", f.n) }

func (f *fixture) enroll(p partners.Partner) ledger.MemberRef {
	m, err := f.l.Enroll(f.ctx, p.ID, ledger.Enrollment{IdempotencyKey: f.key()})
	if err != nil {
		f.t.Fatal(err)
	}
	return ledger.MemberRef{ID: m.ID}
}

func (f *fixture) accrue(p partners.Partner, m ledger.MemberRef, minor int64) ledger.AccrueResult {
	r, err := f.l.Accrue(f.ctx, p.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: m, OrderID: f.key(),
		Purchase: coalition.Money{Minor: minor, Currency: "RUB"}})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) redeem(p partners.Partner, m ledger.MemberRef, points coalition.Points) ledger.Transaction {
	tx, err := f.l.Redeem(f.ctx, p.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: m, OrderID: f.key(), Points: points})
	if err != nil {
		f.t.Fatal(err)
	}
	return tx
}

func (f *fixture) advance(d time.Duration) { f.clock.Set(f.clock.Now().Add(d)) }

// dayOne posts the first business day, 2026-03-10:
//   - a member earns 50 at the café, then 30 at the cinema;
//   - spends 60 at the fuel station: 50 of the café's, 10 of the cinema's;
//   - spends 5 at the cinema, of the cinema's own points (no money moves);
//   - another member earns 17 at the café (5 % of 340.00).
func (f *fixture) dayOne() (burn ledger.Transaction) {
	m1 := f.enroll(f.cafe)
	f.accrue(f.cafe, m1, 100_000)
	f.advance(time.Minute) // the cinema's points expire a minute later
	f.accrue(f.cinema, m1, 100_000)
	burn = f.redeem(f.fuel, m1, 60)
	f.redeem(f.cinema, m1, 5)
	m2 := f.enroll(f.cinema)
	f.accrue(f.cafe, m2, 34_000)
	return burn
}

func (f *fixture) clear(date time.Time) clearing.Report {
	f.t.Helper()
	b, err := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now}).Run(f.ctx, date)
	if err != nil {
		f.t.Fatal(err)
	}
	r, err := clearing.Decode(b)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func nets(r clearing.Report) map[string]int64 {
	out := map[string]int64{}
	for _, n := range r.Nets {
		out[n.Party] = n.Net
	}
	return out
}

func TestClearingADayWithCrossBurnsSelfBurnsAndFees(t *testing.T) {
	f := newFixture(t)
	f.dayOne()
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow)) // after the cut-off
	r := f.clear(day1)

	wantFlows := []clearing.Flow{
		{Issuer: "cafe", Redeemer: "fuel", Kind: clearing.KindBurn, Points: 50, Minor: 5000},
		{Issuer: "cinema", Redeemer: "cinema", Kind: clearing.KindBurn, Points: 5, Minor: 0},
		{Issuer: "cinema", Redeemer: "fuel", Kind: clearing.KindBurn, Points: 10, Minor: 1000},
	}
	if !slices.Equal(r.Flows, wantFlows) {
		t.Fatalf("flows = %+v\nwant    %+v", r.Flows, wantFlows)
	}
	wantFees := []clearing.Fee{
		{Payer: "cafe", Kind: clearing.KindInterchange, BP: 100, BaseMinor: 5000, Minor: 50},
		// 0.5 % of 67 points × 1.00 = 33.50, truncated to 33.
		{Payer: "cafe", Kind: clearing.KindIssue, BP: 50, BaseMinor: 6700, Minor: 33},
		{Payer: "cinema", Kind: clearing.KindInterchange, BP: 150, BaseMinor: 1000, Minor: 15},
		{Payer: "cinema", Kind: clearing.KindIssue, BP: 50, BaseMinor: 3000, Minor: 15},
	}
	if !slices.Equal(r.Fees, wantFees) {
		t.Fatalf("fees = %+v\nwant   %+v", r.Fees, wantFees)
	}
	wantNets := map[string]int64{"cafe": -5083, "cinema": -1030, "fuel": 6000, "operator": 113}
	if got := nets(r); fmt.Sprint(got) != fmt.Sprint(wantNets) {
		t.Fatalf("nets = %v, want %v", got, wantNets)
	}
	wantHub := []netting.Payment{{From: "cafe", To: "operator", Minor: 5083}, {From: "cinema", To: "operator", Minor: 1030}, {From: "operator", To: "fuel", Minor: 6000}}
	if !slices.Equal(r.Hub, wantHub) {
		t.Fatalf("hub = %+v, want %+v", r.Hub, wantHub)
	}
	wantDirect := []netting.Payment{{From: "cafe", To: "fuel", Minor: 5083}, {From: "cinema", To: "fuel", Minor: 917}, {From: "cinema", To: "operator", Minor: 113}}
	if !slices.Equal(r.Direct, wantDirect) {
		t.Fatalf("direct = %+v, want %+v", r.Direct, wantDirect)
	}
	wantLiabilities := []clearing.Liability{{Partner: "cafe", Outstanding: 17}, {Partner: "cinema", Outstanding: 15}, {Partner: "fuel", Outstanding: 0}}
	if !slices.Equal(r.Liabilities, wantLiabilities) {
		t.Fatalf("liabilities = %+v, want %+v", r.Liabilities, wantLiabilities)
	}
	// The next day is open and takes new postings.
	var open string
	if err := f.runner.Pool().QueryRow(f.ctx, `SELECT business_date::TEXT FROM settlement_windows WHERE status = 'open'`).Scan(&open); err != nil || open != "2026-03-11" {
		t.Fatalf("open window = %q, %v", open, err)
	}
}

func TestRefundOfABurnInALaterWindowAndBreakage(t *testing.T) {
	f := newFixture(t)
	burn := f.dayOne()
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	f.clear(day1)
	// Day two: the fuel station refunds 20 of day one's 60 points: 10 go
	// back to the cinema's lot (latest to expire), 10 to the café's.
	twenty := coalition.Points(20)
	if _, err := f.l.Refund(f.ctx, f.fuel.ID, ledger.Refund{IdempotencyKey: f.key(), TransactionID: burn.ID, Points: &twenty}); err != nil {
		t.Fatal(err)
	}
	// A member earns 50 at the fuel station (1 % of 5000.00); fuel points
	// live one day, and expire before the window is cleared.
	m3 := f.enroll(f.fuel)
	f.accrue(f.fuel, m3, 500_000)
	f.advance(25 * time.Hour)
	if n, err := f.l.ExpireLots(f.ctx, 100); err != nil || n != 1 {
		t.Fatalf("expired %d, %v", n, err)
	}
	r := f.clear(day2)
	wantFlows := []clearing.Flow{
		{Issuer: "cafe", Redeemer: "fuel", Kind: clearing.KindBurn, Points: -10, Minor: -1000},
		{Issuer: "cinema", Redeemer: "fuel", Kind: clearing.KindBurn, Points: -10, Minor: -1000},
	}
	if !slices.Equal(r.Flows, wantFlows) {
		t.Fatalf("flows = %+v, want %+v", r.Flows, wantFlows)
	}
	if want := []clearing.Breakage{{Partner: "fuel", Points: 50, Minor: 5000}}; !slices.Equal(r.Breakage, want) {
		t.Fatalf("breakage = %+v, want %+v", r.Breakage, want)
	}
	wantFees := []clearing.Fee{
		// The refunded burns give back their interchange, truncated toward zero.
		{Payer: "cafe", Kind: clearing.KindInterchange, BP: 100, BaseMinor: -1000, Minor: -10},
		{Payer: "cinema", Kind: clearing.KindInterchange, BP: 150, BaseMinor: -1000, Minor: -15},
		{Payer: "fuel", Kind: clearing.KindIssue, BP: 50, BaseMinor: 5000, Minor: 25},
		{Payer: "fuel", Kind: clearing.KindBreakage, BP: 2000, BaseMinor: 5000, Minor: 1000},
	}
	if !slices.Equal(r.Fees, wantFees) {
		t.Fatalf("fees = %+v\nwant   %+v", r.Fees, wantFees)
	}
	wantNets := map[string]int64{"cafe": 1010, "cinema": 1015, "fuel": -3025, "operator": 1000}
	if got := nets(r); fmt.Sprint(got) != fmt.Sprint(wantNets) {
		t.Fatalf("nets = %v, want %v", got, wantNets)
	}
	wantLiabilities := []clearing.Liability{{Partner: "cafe", Outstanding: 27}, {Partner: "cinema", Outstanding: 25}, {Partner: "fuel", Outstanding: 0}}
	if !slices.Equal(r.Liabilities, wantLiabilities) {
		t.Fatalf("liabilities = %+v, want %+v", r.Liabilities, wantLiabilities)
	}
}

func TestClearingIsIdempotentAndSurvivesACrashAtEveryStep(t *testing.T) {
	clean := newFixture(t)
	clean.dayOne()
	clean.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	want, err := clearing.New(clearing.Config{Tx: clean.runner, Clock: clean.clock.Now}).Run(clean.ctx, day1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := clearing.New(clearing.Config{Tx: clean.runner, Clock: clean.clock.Now}).Run(clean.ctx, day1)
	if err != nil || string(again) != string(want) {
		t.Fatalf("second run differs (%v)", err)
	}
	for _, step := range []string{"closed", "computed"} {
		t.Run("crash after "+step, func(t *testing.T) {
			f := newFixture(t)
			f.dayOne()
			f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
			crash := errors.New("crash")
			_, err := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now, AfterStep: func(s string) error {
				if s == step {
					return crash
				}
				return nil
			}}).Run(f.ctx, day1)
			if !errors.Is(err, crash) {
				t.Fatalf("run = %v, want the injected crash", err)
			}
			f.advance(time.Hour) // the re-run comes later
			got, err := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now}).Run(f.ctx, day1)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("report after a crash differs from a clean run:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestRacingClearingRunsAgreeOnOneReport(t *testing.T) {
	f := newFixture(t)
	f.dayOne()
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	const runs = 4
	out := make([][]byte, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now}).Run(f.ctx, day1)
		}()
	}
	wg.Wait()
	for i := range runs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if string(out[i]) != string(out[0]) {
			t.Fatal("racing runs returned different reports")
		}
	}
	var reports, windows int
	if err := f.runner.Pool().QueryRow(f.ctx, `SELECT count(*) FROM clearing_reports`).Scan(&reports); err != nil || reports != 1 {
		t.Fatalf("%d reports stored, %v", reports, err)
	}
	if err := f.runner.Pool().QueryRow(f.ctx, `SELECT count(*) FROM settlement_windows`).Scan(&windows); err != nil || windows != 2 {
		t.Fatalf("%d windows, %v; want the cleared day and the next", windows, err)
	}
}

func TestWindowsClearInOrderAndAClosedWindowTakesNoPostings(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	f.clear(day1)
	// Postings now land in the next window.
	r := f.accrue(f.cafe, m, 100_000)
	if r.Transaction.BusinessDate != "2026-03-11" {
		t.Fatalf("posting after the close landed in %s", r.Transaction.BusinessDate)
	}
	// A window cannot clear before the one before it.
	_, err := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now}).Run(f.ctx, day2.AddDate(0, 0, 1))
	if e, ok := coalition.AsError(err); !ok || e.Code != coalition.FailedPrecondition || e.Field != "window" {
		t.Fatalf("clearing 03-12 before 03-11 = %v, want FailedPrecondition", err)
	}
}

func TestCSVAndDrillDownLeadFromEveryFigureToTheLedger(t *testing.T) {
	f := newFixture(t)
	f.dayOne()
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	r := f.clear(day1)
	var buf strings.Builder
	if err := r.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], clearing.CSVHeader) {
		t.Fatalf("header = %v", rows[0])
	}
	// The money lines, summed per party, are the net lines.
	moved, netLines := map[string]int64{}, map[string]int64{}
	for _, row := range rows[1:] {
		amount, _ := strconv.ParseInt(row[6], 10, 64)
		switch row[0] {
		case "flow", "fee":
			moved[row[2]] -= amount
			moved[row[3]] += amount
		case "net":
			netLines[row[2]] = amount
		}
	}
	for party, n := range netLines {
		if moved[party] != n {
			t.Errorf("%s: money lines sum to %d, net line says %d", party, moved[party], n)
		}
	}
	if fmt.Sprint(netLines) != fmt.Sprint(nets(r)) {
		t.Fatalf("CSV nets %v, report nets %v", netLines, nets(r))
	}
	drillsDownExactly(t, f, day1, r)
	c := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now})
	if _, _, err := c.DrillDown(f.ctx, day1, "N1", ""); err == nil {
		t.Fatal("a net line drilled down to postings")
	}
	// A partner's statement shows only what concerns it.
	st := r.For("cinema")
	for _, fl := range st.Flows {
		if fl.Issuer != "cinema" && fl.Redeemer != "cinema" {
			t.Fatalf("cinema's statement shows %+v", fl)
		}
	}
	if len(st.Nets) != 1 || st.Nets[0].Net != -1030 || len(st.Partners) != 1 {
		t.Fatalf("cinema's statement = %+v", st)
	}
}

func TestDueWindowsAreClearedAfterTheCutOffInTheCoalitionsTimeZone(t *testing.T) {
	f := newFixture(t)
	f.dayOne()
	c := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now})
	// 23:59 in Moscow: the business day has not ended.
	f.clock.Set(time.Date(2026, 3, 10, 23, 59, 0, 0, moscow))
	if due, err := c.Due(f.ctx); err != nil || len(due) != 0 {
		t.Fatalf("due before midnight = %v, %v", due, err)
	}
	// 00:00 in Moscow is still 21:00 on the 10th in UTC: the day has ended.
	f.clock.Set(time.Date(2026, 3, 11, 0, 0, 0, 0, moscow))
	done, err := c.RunDue(f.ctx)
	if err != nil || len(done) != 1 || !done[0].Equal(day1) {
		t.Fatalf("cleared %v, %v; want 2026-03-10", done, err)
	}
	if done, err := c.RunDue(f.ctx); err != nil || len(done) != 0 {
		t.Fatalf("second pass cleared %v, %v", done, err)
	}
	ws, err := c.Windows(f.ctx, 10)
	if err != nil || len(ws) != 2 || ws[0].Status != "open" || !ws[1].Cleared {
		t.Fatalf("windows = %+v, %v", ws, err)
	}
}

// drillsDownExactly checks that every flow, fee and issued line of a report
// drills down to postings that add up to it.
func drillsDownExactly(t *testing.T, f *fixture, day time.Time, r clearing.Report) {
	t.Helper()
	c := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now})
	for _, l := range r.Lines() {
		if l.Section != clearing.SectionFlow && l.Section != clearing.SectionFee && l.Section != clearing.SectionIssued {
			continue
		}
		_, posts, err := c.DrillDown(f.ctx, day, l.ID, "")
		if err != nil {
			t.Fatalf("drill down %s: %v", l.ID, err)
		}
		var points coalition.Points
		for _, p := range posts {
			points += p.Points
		}
		switch {
		case l.Points != nil && points != *l.Points:
			t.Errorf("line %s (%s %s→%s) has %d points, its postings %d", l.ID, l.Kind, l.Payer, l.Payee, *l.Points, points)
		case l.BaseMinor != nil && points.Worth(r.PointValueMinor) != *l.BaseMinor:
			t.Errorf("fee line %s has base %d, its postings are worth %d", l.ID, *l.BaseMinor, points.Worth(r.PointValueMinor))
		}
		if len(posts) == 0 {
			t.Errorf("line %s has no postings", l.ID)
		}
	}
}

// `clear --window yesterday` the morning after: yesterday is the
// coalition's (Moscow's) yesterday, whatever the machine's zone, and the
// second clear of it says it was cleared already.
func TestClearingYesterdayOnceThenAgainSaysAlreadyCleared(t *testing.T) {
	f := newFixture(t)
	f.dayOne()
	// 00:30 in Moscow on 11 March is still 10 March in UTC.
	f.clock.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, moscow))
	c := clearing.New(clearing.Config{Tx: f.runner, Clock: f.clock.Now})
	date, err := c.BusinessDate(f.ctx, "yesterday")
	if err != nil {
		t.Fatal(err)
	}
	if !date.Equal(day1) {
		t.Fatalf("yesterday = %s, want %s", date.Format(time.DateOnly), day1.Format(time.DateOnly))
	}
	first, already, err := c.Clear(f.ctx, date)
	if err != nil || already {
		t.Fatalf("first clear: already %v, %v", already, err)
	}
	again, already, err := c.Clear(f.ctx, date)
	if err != nil || !already || string(again) != string(first) {
		t.Fatalf("second clear: already %v, same report %v, %v", already, string(again) == string(first), err)
	}
}
