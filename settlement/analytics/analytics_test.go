package analytics_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"regexp"
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
	"github.com/coalition-loyalty/coalition/coalition/enrolment"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
	"github.com/coalition-loyalty/coalition/settlement/analytics"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var moscow, _ = time.LoadLocation("Europe/Moscow")

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func month(d time.Time) time.Time { return date(d.Year(), d.Month(), 1) }

// The workload's business days: 60, across a new year, so that members'
// activity spans two years of bitmaps.
var (
	firstDay = date(2025, 11, 20)
	days     = 60
	lastDay  = firstDay.AddDate(0, 0, days-1)
)

// world is a coalition of four partners on a fresh database, on a
// business clock the test moves, with the ledger, self-enrolment by QR,
// clearing and analytics wired as the server wires them.
type world struct {
	t         *testing.T
	ctx       context.Context
	tx        *txn.Runner
	clock     *clock.Manual
	ledger    *ledger.Ledger
	enrol     *enrolment.Service
	out       *outbox
	clearing  *clearing.Clearing
	analytics *analytics.Analytics
	rng       *rand.Rand
	keys      int

	cafe, cinema, fuel, shop partners.Partner
	code                     map[coalition.PartnerID]string
	id                       map[string]coalition.PartnerID

	rec     record
	reports []clearing.Report
}

// record is what the test did, from its own calls and their answers: the
// expected figures are computed from it, not from the database.
type record struct {
	members    []joined
	home       map[coalition.MemberID]coalition.PartnerID
	joinedOn   map[coalition.MemberID]time.Time
	purchases  []purchase
	refunds    []refund
	spends     []spend
	issued     map[coalition.PartnerID]coalition.Points
	shopVisits []coalition.MemberID // the few other partners' members who buy at the shop
}

type joined struct {
	id       coalition.MemberID
	home     coalition.PartnerID
	day      time.Time
	channel  string
	location string
}

type purchase struct {
	member  coalition.MemberID
	partner coalition.PartnerID
	day     time.Time
	minor   int64
	tx      uuid.UUID
	left    int64        // not refunded yet
	lines   []rules.Line // the breakdown the ledger answered with
}

type refund struct {
	partner coalition.PartnerID
	day     time.Time
	minor   int64
}

// spend is a redemption, and the points later given back by refunds of it
// (burn refunds).
type spend struct {
	member   coalition.MemberID
	partner  coalition.PartnerID
	day      time.Time
	points   coalition.Points
	tx       uuid.UUID
	refunded coalition.Points
	backOn   []dayPoints
}

type dayPoints struct {
	day    time.Time
	points coalition.Points
}

// outbox keeps the one-time codes self-enrolment sends.
type outbox struct {
	mu   sync.Mutex
	last map[string]string
}

var codeRE = regexp.MustCompile(`\b[0-9]{6}\b`)

func (o *outbox) Send(_ context.Context, to, text string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last[to] = codeRE.FindString(text)
	return nil
}

func seed(t *testing.T) uint64 {
	if s := os.Getenv("COALITION_ANALYTICS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COALITION_ANALYTICS_SEED: %v", err)
		}
		return n
	}
	return 16
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	tx, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	s := seed(t)
	t.Logf("workload seed %d (COALITION_ANALYTICS_SEED)", s)
	w := &world{t: t, ctx: ctx, tx: tx, clock: clock.NewManual(at(firstDay, 8, 0)), rng: rand.New(rand.NewPCG(s, s^0x5eed)),
		out: &outbox{last: map[string]string{}}, code: map[coalition.PartnerID]string{}, id: map[string]coalition.PartnerID{}}
	w.rec.home = map[coalition.MemberID]coalition.PartnerID{}
	w.rec.joinedOn = map[coalition.MemberID]time.Time{}
	w.rec.issued = map[coalition.PartnerID]coalition.Points{}
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	rs := rules.NewStore(rules.StoreConfig{Tx: tx, Clock: w.clock.Now})
	w.ledger = ledger.New(ledger.Config{Tx: tx, Clock: w.clock.Now, Phones: hasher, Rules: rs})
	if err := w.ledger.Bootstrap(ctx, ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		t.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: tx, Clock: w.clock.Now})
	add := func(code string, rate int64, ttl int) partners.Partner {
		p, err := reg.Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: rate, PointsTTLDays: ttl})
		if err != nil {
			t.Fatal(err)
		}
		w.code[p.ID], w.id[code] = code, p.ID
		return p
	}
	// The fuel station's points expire after two days, so points expire
	// every day.
	w.cafe, w.cinema, w.fuel, w.shop = add("cafe", 500, 365), add("cinema", 300, 365), add("fuel", 100, 2), add("shop", 200, 365)
	if _, err := rs.Put(ctx, rules.RuleSet{Partners: []rules.PartnerRules{{Partner: "cafe", WelcomePoints: 100}},
		Promotions: promotions}); err != nil {
		t.Fatal(err)
	}
	w.enrol = enrolment.New(enrolment.Config{Tx: tx, Hasher: hasher, Sender: w.out, Ledger: w.ledger, Partners: reg,
		Sessions: sessions.New(sessions.Config{Tx: tx, Clock: w.clock.Now}), TermsVersion: "2025-11", Clock: w.clock.Now})
	w.clearing = clearing.New(clearing.Config{Tx: tx, Clock: w.clock.Now})
	w.analytics = analytics.New(analytics.Config{Tx: tx, Clock: w.clock.Now})
	return w
}

// at is the time h:m in Moscow on business day d.
func at(d time.Time, h, m int) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, moscow)
}

func (w *world) key() string { w.keys++; return fmt.Sprintf("k%d", w.keys) }

// tick moves the clock a minute: every operation of a day happens at its
// own time within the day.
func (w *world) tick() { w.clock.Advance(time.Minute) }

// enrollByAPI enrolls a member through the partner's API.
func (w *world) enrollByAPI(p partners.Partner, d time.Time) coalition.MemberID {
	w.tick()
	m, err := w.ledger.Enroll(w.ctx, p.ID, ledger.Enrollment{IdempotencyKey: w.key()})
	if err != nil {
		w.t.Fatal(err)
	}
	w.joined(m, "api", "", d)
	return m.ID
}

// enrollByQR has a person scan the partner's QR code at a point of sale,
// prove a phone number and accept the terms.
func (w *world) enrollByQR(p partners.Partner, location string, d time.Time) coalition.MemberID {
	w.tick()
	pt, err := w.enrol.Point(w.ctx, p.Code, location)
	if err != nil {
		w.t.Fatal(err)
	}
	n := len(w.rec.members)
	contact := fmt.Sprintf("+7900%07d", n)
	client := netip.AddrFrom4([4]byte{203, 0, byte(n / 250), byte(n%250 + 1)})
	ch, err := w.enrol.Start(w.ctx, enrolment.Request{Point: pt, Contact: contact, Client: client,
		Message: func(code string) string { return code + " is your code" }})
	if err != nil {
		w.t.Fatal(err)
	}
	w.out.mu.Lock()
	code := w.out.last[ch.Contact]
	w.out.mu.Unlock()
	res, err := w.enrol.Verify(w.ctx, enrolment.Verification{Token: ch.Token, Contact: ch.Contact, Code: code, Consent: true})
	if err != nil || !res.New {
		w.t.Fatalf("join by QR: %+v, %v", res, err)
	}
	w.joined(res.Member, "qr", location, d)
	return res.Member.ID
}

func (w *world) joined(m ledger.Member, channel, location string, d time.Time) {
	w.rec.members = append(w.rec.members, joined{id: m.ID, home: m.HomePartnerID, day: d, channel: channel, location: location})
	w.rec.home[m.ID], w.rec.joinedOn[m.ID] = m.HomePartnerID, d
	w.rec.issued[m.HomePartnerID] += m.WelcomePoints
}

func (w *world) buy(m coalition.MemberID, p partners.Partner, d time.Time) {
	w.tick()
	minor := 100 + w.rng.Int64N(50_000)
	r, err := w.ledger.Accrue(w.ctx, p.ID, ledger.Accrual{IdempotencyKey: w.key(), Member: ledger.MemberRef{ID: m}, OrderID: w.key(),
		Purchase: coalition.Money{Minor: minor, Currency: "RUB"}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.rec.purchases = append(w.rec.purchases, purchase{member: m, partner: p.ID, day: d, minor: minor, tx: r.Transaction.ID, left: minor,
		lines: r.Earning.Lines})
	w.rec.issued[p.ID] += r.Transaction.Points
	for _, b := range r.Bonuses {
		w.rec.issued[b.PartnerID] += b.Points
	}
}

// redeem spends up to half of what the member has, if anything.
func (w *world) redeem(m coalition.MemberID, p partners.Partner, d time.Time) {
	w.tick()
	b, err := w.ledger.BalanceOf(w.ctx, ledger.MemberRef{ID: m})
	if err != nil {
		w.t.Fatal(err)
	}
	if b.Available < 2 {
		return
	}
	n := 1 + coalition.Points(w.rng.Int64N(int64(b.Available/2)))
	tx, err := w.ledger.Redeem(w.ctx, p.ID, ledger.Redemption{IdempotencyKey: w.key(), Member: ledger.MemberRef{ID: m}, OrderID: w.key(), Points: n})
	if err != nil {
		w.t.Fatal(err)
	}
	w.rec.spends = append(w.rec.spends, spend{member: m, partner: p.ID, day: d, points: n, tx: tx.ID})
}

// refundPurchase refunds all or part of an earlier purchase not yet fully
// refunded, at its partner.
func (w *world) refundPurchase(d time.Time) {
	w.tick()
	var open []int
	for i, p := range w.rec.purchases {
		if p.left > 0 {
			open = append(open, i)
		}
	}
	if len(open) == 0 {
		return
	}
	p := &w.rec.purchases[open[w.rng.IntN(len(open))]]
	if budgeted(p.lines) {
		return // its budget's release is not what this workload counts (promotions_test.go)
	}
	minor := p.left
	if w.rng.IntN(3) > 0 {
		minor = 1 + w.rng.Int64N(p.left)
	}
	if _, err := w.ledger.Refund(w.ctx, p.partner, ledger.Refund{IdempotencyKey: w.key(), TransactionID: p.tx,
		Purchase: &coalition.Money{Minor: minor, Currency: "RUB"}}); err != nil {
		w.t.Fatal(err)
	}
	p.left -= minor
	w.rec.refunds = append(w.rec.refunds, refund{partner: p.partner, day: d, minor: minor})
}

// refundSpend gives back part of an earlier redemption's points.
func (w *world) refundSpend(d time.Time) {
	w.tick()
	var open []int
	for i, s := range w.rec.spends {
		if s.points > s.refunded {
			open = append(open, i)
		}
	}
	if len(open) == 0 {
		return
	}
	s := &w.rec.spends[open[w.rng.IntN(len(open))]]
	n := 1 + coalition.Points(w.rng.Int64N(int64(s.points-s.refunded)))
	if _, err := w.ledger.Refund(w.ctx, s.partner, ledger.Refund{IdempotencyKey: w.key(), TransactionID: s.tx, Points: &n}); err != nil {
		w.t.Fatal(err)
	}
	s.refunded += n
	s.backOn = append(s.backOn, dayPoints{d, n})
}

// clear clears business day d at half past midnight after it, as the
// daily job would, and keeps its report.
func (w *world) clear(d time.Time) {
	w.clock.Set(at(d.AddDate(0, 0, 1), 0, 30))
	b, err := w.clearing.Run(w.ctx, d)
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := clearing.Decode(b)
	if err != nil {
		w.t.Fatal(err)
	}
	w.reports = append(w.reports, r)
}

func (w *world) rollUp(want int) {
	w.t.Helper()
	n, err := w.analytics.RollUp(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if n != want {
		w.t.Fatalf("rolled up %d days, want %d", n, want)
	}
}

// play posts one business day: expiry first (as the daily job does), then
// enrolments, purchases, redemptions and refunds in a random order of
// members and partners.
func (w *world) play(d time.Time, first bool) {
	w.clock.Set(at(d, 9, 0))
	for {
		n, err := w.ledger.ExpireLots(w.ctx, 1000)
		if err != nil {
			w.t.Fatal(err)
		}
		if n < 1000 {
			break
		}
	}
	joins := 1 + w.rng.IntN(3)
	if first {
		joins = 24
	}
	for i := range joins {
		switch r := w.rng.IntN(20); {
		case r < 5:
			loc := []string{"", "bar", "terrace"}[w.rng.IntN(3)]
			w.enrollByQR(w.cafe, loc, d)
		case r < 7:
			w.enrollByQR(w.cinema, "", d)
		case r < 11:
			w.enrollByAPI(w.cafe, d)
		case r < 15:
			w.enrollByAPI(w.cinema, d)
		case r < 18:
			w.enrollByAPI(w.fuel, d)
		default:
			// The shop is small: few members of its own.
			if first && i < 6 || w.rng.IntN(4) == 0 {
				w.enrollByAPI(w.shop, d)
			} else {
				w.enrollByAPI(w.fuel, d)
			}
		}
	}
	if first {
		// The only other partners' members who ever buy at the shop: too
		// few to show the shop.
		for _, m := range w.rec.members {
			if m.home == w.cinema.ID && len(w.rec.shopVisits) < 3 {
				w.rec.shopVisits = append(w.rec.shopVisits, m.id)
			}
		}
	}
	members := w.rec.members
	regulars := members[:min(len(members), 20)]
	for range 18 + w.rng.IntN(14) {
		var m coalition.MemberID
		if w.rng.IntN(2) == 0 {
			m = regulars[w.rng.IntN(len(regulars))].id
		} else {
			m = members[w.rng.IntN(len(members))].id
		}
		w.buy(m, w.where(m), d)
	}
	if len(w.rec.shopVisits) > 0 && w.rng.IntN(3) == 0 {
		w.buy(w.rec.shopVisits[w.rng.IntN(len(w.rec.shopVisits))], w.shop, d)
	}
	for range 6 {
		m := members[w.rng.IntN(len(members))].id
		w.redeem(m, w.where(m), d)
	}
	for range 2 {
		w.refundPurchase(d)
	}
	if w.rng.IntN(3) == 0 {
		w.refundSpend(d)
	}
}

// where a member buys: mostly at home; else at one of the three large
// partners. Only the shop's own members buy at the shop (and the few in
// shopVisits, now and then).
func (w *world) where(m coalition.MemberID) partners.Partner {
	home := w.rec.home[m]
	if w.rng.IntN(100) < 60 {
		for _, p := range []partners.Partner{w.cafe, w.cinema, w.fuel, w.shop} {
			if p.ID == home {
				return p
			}
		}
	}
	return []partners.Partner{w.cafe, w.cinema, w.fuel}[w.rng.IntN(3)]
}

// TestFiguresMatchAnIndependentCountOfAGeneratedWorkload plays 60 business
// days of enrolments (by API and by QR), purchases, redemptions, expiries
// and refunds through the ledger, clearing each day; rolls the days up,
// the first half day by day as the job does and the second half in one
// catch-up by two replicas at once; and compares every figure of the
// network's and each partner's view, over several periods, with a count
// made from the test's own record of what it did (and, for the points
// spent and expired by issuer, with the clearing's stored reports).
func TestFiguresMatchAnIndependentCountOfAGeneratedWorkload(t *testing.T) {
	w := newWorld(t)
	for i := range days {
		d := firstDay.AddDate(0, 0, i)
		w.play(d, i == 0)
		w.clear(d)
		if i < days/2 {
			w.rollUp(1)
		}
	}
	w.rollUp2AtOnce(days - days/2)
	t.Logf("%d members (%d by QR), %d purchases, %d refunds, %d redemptions",
		len(w.rec.members), w.countQR(), len(w.rec.purchases), len(w.rec.refunds), len(w.rec.spends))
	// The reports, which the expected points come from, agree with the
	// points the ledger's answers said were issued.
	issued := map[coalition.PartnerID]coalition.Points{}
	for _, r := range w.reports {
		for _, is := range r.Issued {
			issued[w.partyID(is.Partner)] += is.Points
		}
	}
	for id, n := range w.rec.issued {
		if issued[id] != n {
			t.Fatalf("%s issued %d points by its answers, %d by the reports", w.code[id], n, issued[id])
		}
	}

	t.Run("the daily job computes the standard pages of the last day and drops those of earlier days", func(t *testing.T) {
		var stale, standard int
		if err := w.tx.Pool().QueryRow(w.ctx, `
			SELECT count(*) FILTER (WHERE rolled_up_to <> $1),
			       count(*) FILTER (WHERE rolled_up_to = $1 AND period_to = $1)
			FROM analytics_reports`, lastDay).Scan(&stale, &standard); err != nil {
			t.Fatal(err)
		}
		if want := len(analytics.Standard) * 5; stale != 0 || standard != want {
			t.Fatalf("%d reports of earlier days, %d of the last; want none and %d", stale, standard, want)
		}
	})

	periods := [][2]time.Time{
		{firstDay, lastDay},                                     // all of it; the period before is empty
		{date(2025, 12, 15), date(2026, 1, 3)},                  // across the new year, against the 20 days before
		{date(2026, 1, 1), lastDay},                             // one year's bitmaps
		{date(2025, 12, 31), date(2025, 12, 31)},                // one day
		{firstDay.AddDate(0, 0, 1), firstDay.AddDate(0, 0, 30)}, // a month of days in two calendar months
		{date(2025, 11, 1), lastDay},                            // a whole word of the bitmaps (November and December)
		{lastDay.AddDate(-1, 0, 1), lastDay},                    // a year, the longest period
	}
	for _, p := range periods {
		name := p[0].Format(time.DateOnly) + ".." + p[1].Format(time.DateOnly)
		t.Run("network "+name, func(t *testing.T) {
			r, err := w.analytics.Network(w.ctx, p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			if !r.RolledUpTo.Equal(lastDay) {
				t.Fatalf("rolled up to %s, want %s", r.RolledUpTo, lastDay)
			}
			w.compare(t, r.Current, w.expect(coalition.PartnerID{}, r.Current.From, r.Current.To))
			w.compare(t, r.Previous, w.expect(coalition.PartnerID{}, r.Previous.From, r.Previous.To))
			// Asked again, the page is read as stored, and is the same.
			again, err := w.analytics.Network(w.ctx, p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again, r) {
				t.Fatalf("the stored page differs:\n%+v\n%+v", again, r)
			}
		})
		for _, code := range []string{"cafe", "cinema", "fuel", "shop"} {
			t.Run(code+" "+name, func(t *testing.T) {
				r, err := w.analytics.Partner(w.ctx, w.id[code], p[0], p[1])
				if err != nil {
					t.Fatal(err)
				}
				if again, err := w.analytics.Partner(w.ctx, w.id[code], p[0], p[1]); err != nil || !reflect.DeepEqual(again, r) {
					t.Fatalf("the stored page differs (%v):\n%+v\n%+v", err, again, r)
				}
				w.compareSuppressed(t, w.id[code], &r.Current, w.expect(w.id[code], r.Current.From, r.Current.To))
				w.compare(t, r.Current, w.expect(w.id[code], r.Current.From, r.Current.To))
				w.compareSuppressed(t, w.id[code], &r.Previous, w.expect(w.id[code], r.Previous.From, r.Previous.To))
				w.compare(t, r.Previous, w.expect(w.id[code], r.Previous.From, r.Previous.To))
			})
		}
	}

	t.Run("the shop does not see how few other partners' members buy there", func(t *testing.T) {
		whole, err := w.analytics.Network(w.ctx, firstDay, lastDay)
		if err != nil {
			t.Fatal(err)
		}
		var small int
		for _, c := range whole.Current.Shoppers {
			if c.At == w.shop.ID && c.Home == w.cinema.ID {
				small = int(c.Members)
			}
		}
		if small < 1 || small >= analytics.MinCell {
			t.Fatalf("the operator sees %d cinema members at the shop; the workload makes 1 to %d", small, analytics.MinCell-1)
		}
		shop, err := w.analytics.Partner(w.ctx, w.shop.ID, firstDay, lastDay)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range shop.Current.Shoppers {
			if c.At == w.shop.ID && c.Home == w.cinema.ID && (!c.Suppressed || c.Members != 0) {
				t.Fatalf("the shop sees %+v", c)
			}
		}
	})

	t.Run("rolling up again changes nothing", func(t *testing.T) {
		before := w.dump()
		w.rollUp(0)
		if after := w.dump(); after != before {
			t.Fatal("a second roll-up changed the rollups")
		}
	})
}

// rollUp2AtOnce has two replicas catch up at once: between them they roll
// each day up once.
func (w *world) rollUp2AtOnce(want int) {
	w.t.Helper()
	var wg sync.WaitGroup
	var n [2]int
	var errs [2]error
	for i := range 2 {
		wg.Go(func() { n[i], errs[i] = w.analytics.RollUp(w.ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			w.t.Fatal(err)
		}
	}
	if n[0]+n[1] != want {
		w.t.Fatalf("two replicas rolled up %d and %d days, want %d in all", n[0], n[1], want)
	}
}

func (w *world) countQR() (n int) {
	for _, m := range w.rec.members {
		if m.channel == "qr" {
			n++
		}
	}
	return n
}

// dump is every analytics table's rows, in key order, as text.
func (w *world) dump() string {
	var b strings.Builder
	for _, q := range []string{
		`SELECT business_date::TEXT FROM analytics_days ORDER BY 1`,
		`SELECT member_id::TEXT || home_partner_id::TEXT || enrolled_on::TEXT || enrolment_month::TEXT || channel || location FROM analytics_members ORDER BY 1`,
		`SELECT business_date::TEXT || partner_id::TEXT || channel || location || members::TEXT FROM analytics_enrolments ORDER BY 1`,
		`SELECT ROW(p.*)::TEXT FROM analytics_partner_days AS p ORDER BY 1`,
		`SELECT ROW(f.*)::TEXT FROM analytics_point_flows AS f ORDER BY 1`,
		`SELECT ROW(a.*)::TEXT FROM analytics_activity AS a ORDER BY 1`,
		`SELECT ROW(r.*)::TEXT FROM analytics_repeat_days AS r ORDER BY 1`,
		`SELECT ROW(c.*)::TEXT FROM analytics_cohorts AS c ORDER BY 1`,
		`SELECT ROW(z.*)::TEXT FROM analytics_cohort_sizes AS z ORDER BY 1`,
		`SELECT ROW(p.*)::TEXT FROM analytics_promotion_days AS p ORDER BY 1`,
		`SELECT ROW(p.*)::TEXT FROM analytics_promotion_members AS p ORDER BY 1`,
	} {
		rows, err := w.tx.Pool().Query(w.ctx, q)
		if err != nil {
			w.t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				w.t.Fatal(err)
			}
			b.WriteString(s + "\n")
		}
		if err := rows.Err(); err != nil {
			w.t.Fatal(err)
		}
	}
	return b.String()
}

func in(d, from, to time.Time) bool { return !d.Before(from) && !d.After(to) }

// expect computes a scope's figures over from..to from the record alone
// (partner zero: the network), as the package documents them. The
// cross-shopping cells are exact: the partner's suppression is checked
// apart.
func (w *world) expect(partner coalition.PartnerID, from, to time.Time) analytics.Figures {
	net := partner == coalition.PartnerID{}
	mine := func(p coalition.PartnerID) bool { return net || p == partner }
	f := analytics.Figures{From: from, To: to}
	rub := func(n int64) coalition.Money { return coalition.Money{Minor: n, Currency: "RUB"} }

	acquired := map[analytics.Acquisition]int64{}
	for _, m := range w.rec.members {
		if in(m.day, from, to) && mine(m.home) {
			acquired[analytics.Acquisition{Partner: m.home, Channel: m.channel, Location: m.location}]++
			f.AcquiredTotal++
		}
	}
	for a, n := range acquired {
		a.Members = n
		f.Acquired = append(f.Acquired, a)
	}

	bought := map[coalition.MemberID]int64{}
	type pair struct{ home, at coalition.PartnerID }
	shoppers := map[pair]map[coalition.MemberID]bool{}
	var spent int64
	for _, p := range w.rec.purchases {
		if !in(p.day, from, to) {
			continue
		}
		k := pair{w.rec.home[p.member], p.partner}
		if net || k.at == partner || k.home == partner {
			if shoppers[k] == nil {
				shoppers[k] = map[coalition.MemberID]bool{}
			}
			shoppers[k][p.member] = true
		}
		if mine(p.partner) {
			bought[p.member]++
			f.Purchases++
			spent += p.minor
		}
	}
	f.ActiveMembers = int64(len(bought))
	for _, n := range bought {
		if n >= 2 {
			f.RepeatMembers++
		}
	}
	for k, ms := range shoppers {
		f.Shoppers = append(f.Shoppers, analytics.Shoppers{Home: k.home, At: k.at, Members: int64(len(ms))})
	}
	f.Spent = rub(spent)
	var refunded int64
	for _, r := range w.rec.refunds {
		if in(r.day, from, to) && mine(r.partner) {
			f.Refunds++
			refunded += r.minor
		}
	}
	f.Refunded = rub(refunded)
	f.RepeatShareBP = floor(f.RepeatMembers*10_000, f.ActiveMembers)
	f.FrequencyCenti = floor(f.Purchases*100, f.ActiveMembers)
	f.AverageCheck = rub(floor(spent, f.Purchases))
	f.SpendPerMember = rub(floor(spent, f.ActiveMembers))

	// Points spent at the scope's tills: redemptions less the points their
	// refunds gave back, each on its own day.
	for _, s := range w.rec.spends {
		if !mine(s.partner) {
			continue
		}
		if in(s.day, from, to) {
			f.PointsBurned += s.points
		}
		for _, b := range s.backOn {
			if in(b.day, from, to) {
				f.PointsBurned -= b.points
			}
		}
	}

	// Points issued, clawed back, spent by issuer and expired: from the
	// clearing's reports of the period's days.
	flows := map[[2]string]coalition.Points{}
	for _, r := range w.reports {
		d, _ := time.Parse(time.DateOnly, r.BusinessDate)
		if !in(d, from, to) {
			continue
		}
		for _, is := range r.Issued {
			if mine(w.partyID(is.Partner)) {
				f.PointsIssued += is.Points
				f.PointsClawedBack += is.ClawedBack
			}
		}
		for _, b := range r.Breakage {
			if mine(w.partyID(b.Partner)) {
				f.PointsExpired += b.Points
			}
		}
		for _, fl := range r.Flows {
			if fl.Kind != clearing.KindBurn {
				continue
			}
			if fl.Issuer != fl.Redeemer && mine(w.partyID(fl.Issuer)) {
				f.PointsBurnedElsewhere += fl.Points
			}
			if mine(w.partyID(fl.Issuer)) || mine(w.partyID(fl.Redeemer)) {
				flows[[2]string{fl.Issuer, fl.Redeemer}] += fl.Points
			}
		}
	}
	for k, n := range flows {
		if n != 0 {
			f.Flows = append(f.Flows, analytics.Flow{Issuer: w.partyID(k[0]), Redeemer: w.partyID(k[1]), Points: n})
		}
	}

	// Cohorts: whole calendar months the period touches.
	cohort := map[[2]time.Time]map[coalition.MemberID]bool{}
	for _, p := range w.rec.purchases {
		am := month(p.day)
		if am.Before(month(from)) || am.After(month(to)) || !mine(p.partner) || !mine(w.rec.home[p.member]) {
			continue
		}
		k := [2]time.Time{month(w.rec.joinedOn[p.member]), am}
		if cohort[k] == nil {
			cohort[k] = map[coalition.MemberID]bool{}
		}
		cohort[k][p.member] = true
	}
	size := map[time.Time]int64{}
	for _, m := range w.rec.members {
		if mine(m.home) {
			size[month(m.day)]++
		}
	}
	for k, ms := range cohort {
		c := analytics.Cohort{EnrolmentMonth: k[0], ActivityMonth: k[1], Enrolled: size[k[0]], Active: int64(len(ms))}
		c.RetentionBP = floor(c.Active*10_000, c.Enrolled)
		f.Cohorts = append(f.Cohorts, c)
	}
	f.Promotions = w.expectPromotions(partner, from, to)
	return f
}

// partyID is the partner a report names by code ("operator" included).
func (w *world) partyID(code string) coalition.PartnerID {
	if code == clearing.Operator {
		return coalition.PartnerID(uuid.MustParse("00000000-0000-0000-0000-000000000001"))
	}
	id, ok := w.id[code]
	if !ok {
		w.t.Fatalf("report names unknown party %q", code)
	}
	return id
}

func floor(a, b int64) int64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// compareSuppressed checks a partner's cross-shopping cells against the
// exact ones: a cell shown is exact; a cell of 1 to 4 of another partner's
// customers is never shown; where one cell of the buyers at the partner is
// hidden, another is too (or the lone one is left out); and then it
// replaces the cells with the exact ones, for compare.
func (w *world) compareSuppressed(t *testing.T, partner coalition.PartnerID, got *analytics.Figures, want analytics.Figures) {
	t.Helper()
	exact := map[[2]coalition.PartnerID]int64{}
	for _, c := range want.Shoppers {
		exact[[2]coalition.PartnerID{c.Home, c.At}] = c.Members
	}
	seen := map[[2]coalition.PartnerID]bool{}
	hidden := 0
	for _, c := range got.Shoppers {
		k := [2]coalition.PartnerID{c.Home, c.At}
		seen[k] = true
		n := exact[k]
		switch {
		case c.Suppressed && c.Members != 0:
			t.Errorf("a suppressed cell %s→%s shows %d", w.code[c.Home], w.code[c.At], c.Members)
		case !c.Suppressed && c.Members != n:
			t.Errorf("cell %s→%s: %d, want %d", w.code[c.Home], w.code[c.At], c.Members, n)
		case !c.Suppressed && n < analytics.MinCell && (c.Home != partner || c.At != partner):
			t.Errorf("cell %s→%s shows %d of another partner's customers", w.code[c.Home], w.code[c.At], n)
		}
		if c.Suppressed && c.At == partner {
			hidden++
		}
	}
	if hidden == 1 {
		t.Errorf("one cell of the buyers at %s alone is hidden: the others and the active members give it away", w.code[partner])
	}
	// The one cell left out: the lone cell of the buyers at the partner,
	// of another partner's customers and too small to show.
	var inbound [][2]coalition.PartnerID
	for k := range exact {
		if k[1] == partner {
			inbound = append(inbound, k)
		}
	}
	lone := func(k [2]coalition.PartnerID) bool {
		return len(inbound) == 1 && inbound[0] == k && k[0] != partner && exact[k] < analytics.MinCell
	}
	var restored []analytics.Shoppers
	for k, n := range exact {
		if seen[k] == lone(k) {
			t.Errorf("cell %s→%s (%d): shown %t", w.code[k[0]], w.code[k[1]], n, seen[k])
		}
		restored = append(restored, analytics.Shoppers{Home: k[0], At: k[1], Members: n})
	}
	got.Shoppers = restored
}

// compare reports every figure that differs, in a canonical order of the
// lists.
func (w *world) compare(t *testing.T, got, want analytics.Figures) {
	t.Helper()
	for _, f := range []*analytics.Figures{&got, &want} {
		// Sorted copies: the caller's figures stay as they were.
		f.Acquired, f.Shoppers, f.Flows, f.Cohorts = slices.Clone(f.Acquired), slices.Clone(f.Shoppers), slices.Clone(f.Flows),
			slices.Clone(f.Cohorts)
		slices.SortFunc(f.Acquired, func(a, b analytics.Acquisition) int {
			return cmp.Or(strings.Compare(w.code[a.Partner], w.code[b.Partner]), strings.Compare(a.Channel, b.Channel),
				strings.Compare(a.Location, b.Location))
		})
		slices.SortFunc(f.Shoppers, func(a, b analytics.Shoppers) int {
			return cmp.Or(strings.Compare(w.code[a.Home], w.code[b.Home]), strings.Compare(w.code[a.At], w.code[b.At]))
		})
		slices.SortFunc(f.Flows, func(a, b analytics.Flow) int {
			return cmp.Or(strings.Compare(a.Issuer.String(), b.Issuer.String()), strings.Compare(a.Redeemer.String(), b.Redeemer.String()))
		})
		slices.SortFunc(f.Cohorts, func(a, b analytics.Cohort) int {
			return cmp.Or(a.EnrolmentMonth.Compare(b.EnrolmentMonth), a.ActivityMonth.Compare(b.ActivityMonth))
		})
		f.Promotions = slices.Clone(f.Promotions)
		slices.SortFunc(f.Promotions, func(a, b analytics.PromotionResult) int {
			return cmp.Or(strings.Compare(a.Ref, b.Ref), strings.Compare(w.code[a.Partner], w.code[b.Partner]))
		})
	}
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		g, e := w.named(gv.Field(i).Interface()), w.named(wv.Field(i).Interface())
		if g != e {
			t.Errorf("%s..%s: %s = %s, want %s", got.From.Format(time.DateOnly), got.To.Format(time.DateOnly),
				gv.Type().Field(i).Name, g, e)
		}
	}
}

// named prints a figure with partners' codes for their ids.
func (w *world) named(v any) string {
	s := fmt.Sprintf("%+v", v)
	for id, code := range w.code {
		s = strings.ReplaceAll(s, id.String(), code)
	}
	return strings.ReplaceAll(s, "00000000-0000-0000-0000-000000000001", "operator")
}

// TestOnlyClearedDaysAreRolledUpAndAMemberJoinsInTheWindowOpenAtTheTime:
// a member who enrolls after midnight, while yesterday's window is still
// open (clearing runs late), counts as acquired yesterday, like the
// purchases posted then; a day not cleared yet counts nothing.
func TestOnlyClearedDaysAreRolledUpAndAMemberJoinsInTheWindowOpenAtTheTime(t *testing.T) {
	w := newWorld(t)
	d1, d2 := firstDay, firstDay.AddDate(0, 0, 1)
	w.clock.Set(at(d1, 10, 0))
	m1 := w.enrollByAPI(w.cafe, d1)
	w.buy(m1, w.cafe, d1)
	w.clock.Set(at(d2, 0, 10))
	m2 := w.enrollByAPI(w.cinema, d1)
	w.buy(m2, w.cafe, d1)
	w.rollUp(0)
	w.clear(d1)
	w.clock.Set(at(d2, 10, 0))
	m3 := w.enrollByQR(w.cafe, "bar", d2)
	w.buy(m3, w.cafe, d2)
	w.buy(m1, w.cafe, d2)
	w.rollUp(1)

	r, err := w.analytics.Network(w.ctx, d1, d2)
	if err != nil {
		t.Fatal(err)
	}
	if !r.RolledUpTo.Equal(d1) || r.Current.AcquiredTotal != 2 || r.Current.ActiveMembers != 2 || r.Current.Purchases != 2 ||
		r.Current.RepeatMembers != 0 {
		t.Fatalf("before %s is cleared: %+v", d2.Format(time.DateOnly), r)
	}
	w.clear(d2)
	w.rollUp(1)
	r, err = w.analytics.Network(w.ctx, d1, d2)
	if err != nil {
		t.Fatal(err)
	}
	w.compare(t, r.Current, w.expect(coalition.PartnerID{}, d1, d2))
	if r.Current.RepeatMembers != 1 || r.Current.AcquiredTotal != 3 {
		t.Fatalf("after: %+v", r.Current)
	}
}

func TestAPeriodEndsAfterItStartsAndAPartnerViewNamesAPartner(t *testing.T) {
	w := newWorld(t)
	for _, err := range []error{
		func() error { _, err := w.analytics.Network(w.ctx, lastDay, firstDay); return err }(),
		func() error {
			_, err := w.analytics.Network(w.ctx, firstDay, firstDay.AddDate(0, 0, analytics.MaxPeriod))
			return err
		}(),
		func() error {
			_, err := w.analytics.Partner(w.ctx, coalition.PartnerID{}, firstDay, lastDay)
			return err
		}(),
	} {
		if e, ok := coalition.AsError(err); !ok || e.Code != coalition.Invalid {
			t.Errorf("got %v, want invalid", err)
		}
	}
	if _, err := w.analytics.Network(w.ctx, firstDay, firstDay.AddDate(0, 0, analytics.MaxPeriod-1)); err != nil {
		t.Fatal(err)
	}
}
