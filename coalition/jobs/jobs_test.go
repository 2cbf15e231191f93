package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/telemetry"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/jobs"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// start is noon in Moscow, so the business day is the UTC date.
var start = time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)

// world is a coalition of one partner on a fresh database, on a business
// clock the test moves, with the jobs wired to it as the server wires them.
type world struct {
	t       *testing.T
	ctx     context.Context
	clock   *clock.Manual
	tx      *txn.Runner
	ledger  *ledger.Ledger
	cafe    partners.Partner
	member  ledger.Member
	links   *sessions.Store
	jobs    *jobs.Jobs
	log     *bytes.Buffer
	metrics *sdkmetric.ManualReader
	keys    int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	tx, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, clock: clock.NewManual(start), tx: tx}
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	w.ledger = ledger.New(ledger.Config{Tx: tx, Clock: w.clock.Now, Phones: hasher, Rules: rules.NewStore(rules.StoreConfig{Tx: tx, Clock: w.clock.Now})})
	if err := w.ledger.Bootstrap(ctx, ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		t.Fatal(err)
	}
	// The café's points expire after 30 days.
	if w.cafe, err = partners.New(partners.Config{Tx: tx, Clock: w.clock.Now}).Add(ctx, partners.Partner{Code: "cafe", Name: "cafe", Kind: "cafe",
		EarnRateBP: 500, PointsTTLDays: 30}); err != nil {
		t.Fatal(err)
	}
	if w.member, err = w.ledger.Enroll(ctx, w.cafe.ID, ledger.Enrollment{IdempotencyKey: w.key()}); err != nil {
		t.Fatal(err)
	}
	w.links = sessions.New(sessions.Config{Tx: tx, Clock: w.clock.Now})
	w.metrics = sdkmetric.NewManualReader()
	m, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(w.metrics)), tx.Retries)
	if err != nil {
		t.Fatal(err)
	}
	w.log = &bytes.Buffer{}
	w.jobs = &jobs.Jobs{Ledger: w.ledger, Sessions: w.links, Metrics: m, Log: slog.New(slog.NewTextHandler(w.log, nil))}
	return w
}

func (w *world) key() string {
	w.keys++
	return "key-" + strconv.Itoa(w.keys)
}

func (w *world) accrue(minor int64) {
	w.t.Helper()
	if _, err := w.ledger.Accrue(w.ctx, w.cafe.ID, ledger.Accrual{IdempotencyKey: w.key(), OrderID: w.key(),
		Member: ledger.MemberRef{ID: w.member.ID}, Purchase: coalition.Money{Minor: minor, Currency: "RUB"}}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) hold(points coalition.Points, ttl time.Duration) {
	w.t.Helper()
	if _, err := w.ledger.Authorize(w.ctx, w.cafe.ID, ledger.Authorization{IdempotencyKey: w.key(), OrderID: w.key(),
		Member: ledger.MemberRef{ID: w.member.ID}, Points: points, TTL: ttl}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) count(query string) int {
	w.t.Helper()
	var n int
	if err := w.tx.Pool().QueryRow(w.ctx, query).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// counted is a counter's total among the metrics.
func (w *world) counted(name string) int64 {
	w.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := w.metrics.Collect(w.ctx, &rm); err != nil {
		w.t.Fatal(err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, dp := range sum.DataPoints {
					total += dp.Value
				}
			}
		}
	}
	return total
}

func TestTheSweepReleasesOnlyHoldsPastTheirTTLAndCountsThem(t *testing.T) {
	w := newWorld(t)
	w.accrue(100_000) // 50 points
	w.hold(10, time.Minute)
	w.hold(10, time.Minute)
	w.hold(10, time.Hour)
	w.clock.Advance(2 * time.Minute)

	w.jobs.SweepHolds(w.ctx)
	if expired, active := w.count(`SELECT count(*) FROM holds WHERE status = 'expired'`),
		w.count(`SELECT count(*) FROM holds WHERE status = 'active'`); expired != 2 || active != 1 {
		t.Fatalf("after the sweep: %d holds expired, %d active; want 2 and the hour-long one", expired, active)
	}
	if n := w.counted("coalition.holds.expired"); n != 2 {
		t.Fatalf("holds expired counted %d, want 2", n)
	}
	if !strings.Contains(w.log.String(), `msg="released expired holds" count=2`) {
		t.Fatalf("log: %s", w.log)
	}
	w.log.Reset()
	w.jobs.SweepHolds(w.ctx)
	if n := w.counted("coalition.holds.expired"); n != 2 || w.log.Len() != 0 {
		t.Fatalf("a second sweep with nothing due counted %d in all and logged %q", n, w.log)
	}
}

func TestMaintenanceExpiresLotsAndPurgesLapsedMemberLinks(t *testing.T) {
	w := newWorld(t)
	w.accrue(100_000) // 50 points, expiring in 30 days
	if _, _, err := w.links.IssueMemberLink(w.ctx, w.cafe.ID, w.member.ID, w.member.HomePartnerID); err != nil {
		t.Fatal(err)
	}
	w.jobs.Maintain(w.ctx)
	if lots, links := w.count(`SELECT count(*) FROM lots WHERE remaining > 0`), w.count(`SELECT count(*) FROM member_links`); lots != 1 || links != 1 {
		t.Fatalf("on the day: %d live lots, %d links; want both kept", lots, links)
	}
	// Past the lot's expiry and the link's retention.
	w.clock.Advance(sessions.DefaultRetention + 24*time.Hour)
	w.jobs.Maintain(w.ctx)
	if lots, links := w.count(`SELECT count(*) FROM lots WHERE remaining > 0`), w.count(`SELECT count(*) FROM member_links`); lots != 0 || links != 0 {
		t.Fatalf("after %s: %d live lots, %d links; want none", sessions.DefaultRetention, lots, links)
	}
	if n := w.count(`SELECT count(*) FROM transactions WHERE kind = 'expire'`); n != 1 {
		t.Fatalf("%d expiry postings, want 1", n)
	}
	for _, want := range []string{`msg="expired lots" lots=1`, `msg="purged lapsed sessions and links" rows=1`} {
		if !strings.Contains(w.log.String(), want) {
			t.Fatalf("log lacks %s: %s", want, w.log)
		}
	}
}

// pages is a ledger whose every call returns the next of its pages (a
// number of rows, or an error), and counts the calls.
type pages struct {
	jobs.Ledger
	rows  []int
	err   error
	calls int
}

func (p *pages) ReleaseExpiredHolds(context.Context, int) (int64, error) {
	p.calls++
	if len(p.rows) == 0 {
		return 0, p.err
	}
	n := p.rows[0]
	p.rows = p.rows[1:]
	return int64(n), nil
}

func TestAStepRepeatsWhileWholeBatchesGoAndStopsAtAnError(t *testing.T) {
	w := newWorld(t)
	full := &pages{rows: []int{1000, 1000, 7}}
	w.jobs.Ledger = full
	w.jobs.SweepHolds(w.ctx)
	if full.calls != 3 || w.counted("coalition.holds.expired") != 2007 {
		t.Fatalf("%d batches, %d holds counted; want 3 and 2007", full.calls, w.counted("coalition.holds.expired"))
	}

	failing := &pages{rows: []int{1000}, err: errors.New("connection reset")}
	w.jobs.Ledger = failing
	w.log.Reset()
	w.jobs.SweepHolds(w.ctx)
	if failing.calls != 2 || !strings.Contains(w.log.String(), `level=ERROR msg="release expired holds" error="connection reset"`) {
		t.Fatalf("%d calls, log %s; want the error logged after the second", failing.calls, w.log)
	}
	// A server that is stopping cancels its queries: that is no fault.
	stopped, cancel := context.WithCancel(w.ctx)
	cancel()
	w.jobs.Ledger = &pages{err: context.Canceled}
	w.log.Reset()
	w.jobs.SweepHolds(stopped)
	if w.log.Len() != 0 {
		t.Fatalf("a stopping server logged %s", w.log)
	}
}

// days is a clearer with the given days due; clearing the one named in
// fail fails.
type days struct {
	due     []time.Time
	fail    time.Time
	cleared []time.Time
}

func (d *days) Due(context.Context) ([]time.Time, error) { return d.due, nil }

func (d *days) Clear(_ context.Context, day time.Time) (int, error) {
	if day.Equal(d.fail) {
		return 0, errors.New("reconciliation failed")
	}
	d.cleared = append(d.cleared, day)
	return 4, nil
}

func TestClearingGoesOldestFirstAndStopsAtTheFirstDayThatFails(t *testing.T) {
	w := newWorld(t)
	monday, tuesday, wednesday := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	c := &days{due: []time.Time{monday, tuesday, wednesday}, fail: tuesday}
	w.jobs.Clearing = c
	w.jobs.ClearDue(w.ctx)
	if len(c.cleared) != 1 || !c.cleared[0].Equal(monday) {
		t.Fatalf("cleared %v, want Monday only", c.cleared)
	}
	log := w.log.String()
	if !strings.Contains(log, `msg="cleared settlement window" business_date=2026-03-09 lines=4`) ||
		!strings.Contains(log, `level=ERROR msg=clearing error="reconciliation failed"`) || strings.Contains(log, "2026-03-11") {
		t.Fatalf("log: %s", log)
	}
	if n := w.counted("coalition.clearing.lines"); n != 4 {
		t.Fatalf("clearing lines counted %d, want Monday's 4", n)
	}
}

// rollups is the analytics as the clearing pass sees them.
type rollups struct {
	calls, days int
	err         error
}

func (r *rollups) RollUp(context.Context) (int, error) {
	r.calls++
	return r.days, r.err
}

func TestTheClearingPassRollsUpTheAnalyticsEvenWhenADayFailedToClear(t *testing.T) {
	w := newWorld(t)
	monday, tuesday := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	r := &rollups{days: 1}
	w.jobs.Clearing, w.jobs.Analytics = &days{due: []time.Time{monday, tuesday}, fail: tuesday}, r
	w.jobs.ClearDue(w.ctx)
	if r.calls != 1 || !strings.Contains(w.log.String(), `msg="rolled up analytics" days=1`) {
		t.Fatalf("%d roll-ups; log %s", r.calls, w.log)
	}
	r.days, r.err = 0, errors.New("connection reset")
	w.log.Reset()
	w.jobs.ClearDue(w.ctx)
	if r.calls != 2 || !strings.Contains(w.log.String(), `level=ERROR msg="roll up analytics" error="connection reset"`) {
		t.Fatalf("%d roll-ups; log %s", r.calls, w.log)
	}
}

func TestAScheduleRunsAtEachTickAndFirstAtOnceWhenAsked(t *testing.T) {
	for _, first := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		ticks, passes, done := make(chan time.Time), make(chan struct{}), make(chan struct{})
		go func() {
			jobs.OnTicks(ctx, ticks, first, func(context.Context) { passes <- struct{}{} })
			close(done)
		}()
		if first {
			<-passes // before any tick
		}
		for range 2 {
			ticks <- time.Time{}
			<-passes
		}
		// A pass still running would block on passes: done proves none is.
		cancel()
		<-done
	}
}

// codes is self-enrolment's purge with rows to delete.
type codes struct {
	left  int64
	calls int
}

func (c *codes) PurgeCodes(_ context.Context, limit int) (int64, error) {
	c.calls++
	n := min(c.left, int64(limit))
	c.left -= n
	return n, nil
}

func TestMaintenancePurgesLapsedEnrolmentCodesWhenJoiningIsOn(t *testing.T) {
	w := newWorld(t)
	w.jobs.Maintain(w.ctx) // joining by QR off: nothing to purge, nothing logged about it
	if strings.Contains(w.log.String(), "enrolment") {
		t.Fatalf("log %s", w.log)
	}
	c := &codes{left: 1500}
	w.jobs.Enrolment = c
	w.jobs.Maintain(w.ctx)
	if c.left != 0 || c.calls != 2 {
		t.Fatalf("%d calls, %d codes left; want 2 and none", c.calls, c.left)
	}
	for _, want := range []string{`msg="purged lapsed enrolment codes" rows=1000`, `msg="purged lapsed enrolment codes" rows=500`} {
		if !strings.Contains(w.log.String(), want) {
			t.Fatalf("log lacks %s: %s", want, w.log)
		}
	}
}
