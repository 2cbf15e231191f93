package segments_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
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
	"github.com/coalition-loyalty/coalition/coalition/rules"
	"github.com/coalition-loyalty/coalition/coalition/segments"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var moscow, _ = time.LoadLocation("Europe/Moscow")

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// at is the time h:m in Moscow on business day d.
func at(d time.Time, h, m int) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, moscow)
}

var categories = []string{"coffee", "food", "film", "fuel", ""}

// world is a coalition of four partners with tiers, on a business clock
// the test moves, with the ledger, clearing and segments wired as the
// server wires them.
type world struct {
	t        *testing.T
	ctx      context.Context
	tx       *txn.Runner
	clock    *clock.Manual
	ledger   *ledger.Ledger
	clearing *clearing.Clearing
	seg      *segments.Segments
	rng      *rand.Rand
	keys     int

	partners []partners.Partner
	code     map[coalition.PartnerID]string

	rec record
}

// record is what the test did, from its own calls and their answers: the
// expected segments are computed from it, not from the database.
type record struct {
	members   []coalition.MemberID
	home      map[coalition.MemberID]coalition.PartnerID
	tier      map[coalition.MemberID]string // as the last accrual's answer said
	birth     map[coalition.MemberID]segments.Birthday
	purchases []purchase
	refunds   []refund
}

type purchase struct {
	member   coalition.MemberID
	partner  coalition.PartnerID
	day      time.Time
	minor    int64
	category string
	tx       uuid.UUID
	left     int64
}

type refund struct {
	member  coalition.MemberID
	partner coalition.PartnerID
	day     time.Time
	minor   int64
}

func seed(t *testing.T) uint64 {
	if s := os.Getenv("COALITION_SEGMENTS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COALITION_SEGMENTS_SEED: %v", err)
		}
		return n
	}
	return 16
}

func newWorld(t *testing.T, first time.Time) *world {
	t.Helper()
	ctx := context.Background()
	tx, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	s := seed(t)
	t.Logf("workload seed %d (COALITION_SEGMENTS_SEED)", s)
	w := &world{t: t, ctx: ctx, tx: tx, clock: clock.NewManual(at(first, 8, 0)), rng: rand.New(rand.NewPCG(s, s^0x5e6)),
		code: map[coalition.PartnerID]string{}}
	w.rec.home = map[coalition.MemberID]coalition.PartnerID{}
	w.rec.tier = map[coalition.MemberID]string{}
	w.rec.birth = map[coalition.MemberID]segments.Birthday{}
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	rs := rules.NewStore(rules.StoreConfig{Tx: tx, Clock: w.clock.Now})
	w.ledger = ledger.New(ledger.Config{Tx: tx, Clock: w.clock.Now, Phones: hasher, Rules: rs})
	if err := w.ledger.Bootstrap(ctx, ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		t.Fatal(err)
	}
	reg := partners.New(partners.Config{Tx: tx, Clock: w.clock.Now})
	for _, code := range []string{"cafe", "cinema", "fuel", "shop"} {
		p, err := reg.Add(ctx, partners.Partner{Code: code, Name: code, Kind: code, EarnRateBP: 300, PointsTTLDays: 730})
		if err != nil {
			t.Fatal(err)
		}
		w.partners = append(w.partners, p)
		w.code[p.ID] = code
	}
	if _, err := rs.Put(ctx, rules.RuleSet{Tiers: &rules.Tiers{PeriodDays: 30, Levels: []rules.Tier{
		{Code: "silver", Name: "Silver", ThresholdMinor: 60_000, MultiplierBP: 12_000},
		{Code: "gold", Name: "Gold", ThresholdMinor: 150_000, MultiplierBP: 15_000},
	}}}); err != nil {
		t.Fatal(err)
	}
	w.clearing = clearing.New(clearing.Config{Tx: tx, Clock: w.clock.Now})
	w.seg = segments.New(segments.Config{Tx: tx, Clock: w.clock.Now, Tiers: segments.TiersOf(rs)})
	return w
}

func (w *world) key() string { w.keys++; return fmt.Sprintf("k%d", w.keys) }

func (w *world) tick() { w.clock.Advance(time.Minute) }

func (w *world) partner(code string) partners.Partner {
	for _, p := range w.partners {
		if p.Code == code {
			return p
		}
	}
	w.t.Fatalf("no partner %s", code)
	return partners.Partner{}
}

func (w *world) enroll(p partners.Partner) coalition.MemberID {
	w.tick()
	m, err := w.ledger.Enroll(w.ctx, p.ID, ledger.Enrollment{IdempotencyKey: w.key()})
	if err != nil {
		w.t.Fatal(err)
	}
	w.rec.members = append(w.rec.members, m.ID)
	w.rec.home[m.ID] = m.HomePartnerID
	return m.ID
}

func (w *world) buy(m coalition.MemberID, p partners.Partner, d time.Time) {
	w.tick()
	minor := 500 + w.rng.Int64N(40_000)
	cat := categories[w.rng.IntN(len(categories))]
	r, err := w.ledger.Accrue(w.ctx, p.ID, ledger.Accrual{IdempotencyKey: w.key(), Member: ledger.MemberRef{ID: m}, OrderID: w.key(),
		Purchase: coalition.Money{Minor: minor, Currency: "RUB"}, Category: cat})
	if err != nil {
		w.t.Fatal(err)
	}
	w.rec.tier[m] = r.Earning.Tier
	w.rec.purchases = append(w.rec.purchases, purchase{member: m, partner: p.ID, day: d, minor: minor, category: cat,
		tx: r.Transaction.ID, left: minor})
}

func (w *world) refundSome(d time.Time) {
	var open []int
	for i, p := range w.rec.purchases {
		if p.left > 0 {
			open = append(open, i)
		}
	}
	if len(open) == 0 {
		return
	}
	w.tick()
	p := &w.rec.purchases[open[w.rng.IntN(len(open))]]
	minor := 1 + w.rng.Int64N(p.left)
	if _, err := w.ledger.Refund(w.ctx, p.partner, ledger.Refund{IdempotencyKey: w.key(), TransactionID: p.tx,
		Purchase: &coalition.Money{Minor: minor, Currency: "RUB"}}); err != nil {
		w.t.Fatal(err)
	}
	p.left -= minor
	w.rec.refunds = append(w.rec.refunds, refund{member: p.member, partner: p.partner, day: d, minor: minor})
}

// play posts one business day d of purchases and refunds, then clears it
// early on next, the following day of activity (the window after d opens
// on next).
func (w *world) play(d, next time.Time) {
	w.clock.Set(at(d, 9, 0))
	for range 10 + w.rng.IntN(15) {
		m := w.rec.members[w.rng.IntN(len(w.rec.members))]
		p := w.partners[w.rng.IntN(len(w.partners))]
		if w.rng.IntN(100) < 55 {
			for _, q := range w.partners {
				if q.ID == w.rec.home[m] {
					p = q
				}
			}
		}
		w.buy(m, p, d)
	}
	if w.rng.IntN(2) == 0 {
		w.refundSome(d)
	}
	w.clock.Set(at(next, 0, 30))
	if _, err := w.clearing.Run(w.ctx, d); err != nil {
		w.t.Fatal(err)
	}
}

// scores are a member's RFM measures and scores in a scope.
type scores struct {
	last                time.Time
	recency, freq, cash int64
	r, f, m             int
}

// rfm computes the scores of scope ("" for the coalition) as of asOf from
// the record, as the package documents them.
func (w *world) rfm(scope coalition.PartnerID, asOf time.Time) map[coalition.MemberID]*scores {
	from := asOf.AddDate(0, 0, -(segments.LookBackDays - 1))
	in := func(d time.Time, p coalition.PartnerID) bool {
		return !d.Before(from) && !d.After(asOf) && (scope == coalition.PartnerID{} || p == scope)
	}
	out := map[coalition.MemberID]*scores{}
	spend := map[coalition.MemberID]int64{}
	for _, p := range w.rec.purchases {
		if !in(p.day, p.partner) {
			continue
		}
		s := out[p.member]
		if s == nil {
			s = &scores{}
			out[p.member] = s
		}
		s.freq++
		if p.day.After(s.last) {
			s.last = p.day
		}
		spend[p.member] += p.minor
	}
	for _, r := range w.rec.refunds {
		if in(r.day, r.partner) {
			spend[r.member] -= r.minor
		}
	}
	var all []*scores
	for m, s := range out {
		s.recency = int64(asOf.Sub(s.last) / (24 * time.Hour))
		s.cash = max(spend[m], 0)
		all = append(all, s)
	}
	n := len(all)
	quint := func(worse int) int { return 1 + 5*worse/n }
	for _, s := range all {
		var rw, fw, mw int
		for _, o := range all {
			if o.recency > s.recency {
				rw++
			}
			if o.freq < s.freq {
				fw++
			}
			if o.cash < s.cash {
				mw++
			}
		}
		s.r, s.f, s.m = quint(rw), quint(fw), quint(mw)
	}
	return out
}

// expect computes the members of a segment of scope as of asOf from the
// record.
func (w *world) expect(scope coalition.PartnerID, d segments.Definition, asOf time.Time) []coalition.MemberID {
	from := asOf.AddDate(0, 0, -(segments.LookBackDays - 1))
	own := w.rfm(scope, asOf)
	byPartner := map[coalition.PartnerID]map[coalition.MemberID]*scores{}
	for _, p := range w.partners {
		byPartner[p.ID] = w.rfm(p.ID, asOf)
	}
	var out []coalition.MemberID
	for _, m := range w.rec.members {
		sc := own[m]
		if scope != (coalition.PartnerID{}) && w.rec.home[m] != scope && sc == nil {
			continue // not the partner's customer
		}
		if len(d.Tiers) > 0 && !slices.Contains(d.Tiers, w.rec.tier[m]) {
			continue
		}
		if len(d.Categories) > 0 && !slices.ContainsFunc(w.rec.purchases, func(p purchase) bool {
			return p.member == m && !p.day.Before(from) && !p.day.After(asOf) && slices.Contains(d.Categories, p.category) &&
				(scope == coalition.PartnerID{} || p.partner == scope)
		}) {
			continue
		}
		if len(d.VisitedPartners) > 0 && !slices.ContainsFunc(w.partners, func(p partners.Partner) bool {
			return slices.Contains(d.VisitedPartners, p.Code) && byPartner[p.ID][m] != nil
		}) {
			continue
		}
		visited := 0
		for _, p := range w.partners {
			if byPartner[p.ID][m] != nil {
				visited++
			}
		}
		if visited < d.MinPartnersVisited {
			continue
		}
		if d.LapsedDays > 0 && (sc == nil || sc.recency < int64(d.LapsedDays)) {
			continue
		}
		if d.BirthdayMonth > 0 && w.rec.birth[m].Month != d.BirthdayMonth {
			continue
		}
		inRange := func(r *segments.ScoreRange, v func(*scores) int) bool {
			return r == nil || sc != nil && v(sc) >= r.Min && v(sc) <= r.Max
		}
		if !inRange(d.Recency, func(s *scores) int { return s.r }) || !inRange(d.Frequency, func(s *scores) int { return s.f }) ||
			!inRange(d.Monetary, func(s *scores) int { return s.m }) {
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b coalition.MemberID) int { return slices.Compare(a[:], b[:]) })
	return out
}

// members reads a segment's stored membership.
func (w *world) members(id uuid.UUID) []coalition.MemberID {
	rows, err := w.tx.Pool().Query(w.ctx, `SELECT member_id FROM segment_members WHERE segment_id = $1`, id)
	if err != nil {
		w.t.Fatal(err)
	}
	defer rows.Close()
	var out []coalition.MemberID
	for rows.Next() {
		var m uuid.UUID
		if err := rows.Scan(&m); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, coalition.MemberID(m))
	}
	if err := rows.Err(); err != nil {
		w.t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b coalition.MemberID) int { return slices.Compare(a[:], b[:]) })
	return out
}

type defined struct {
	scope coalition.PartnerID // zero: the coalition's
	code  string
	def   segments.Definition
	seg   segments.Segment
}

func rng(lo, hi int) *segments.ScoreRange { return &segments.ScoreRange{Min: lo, Max: hi} }

// check compares every defined segment's stored members and size with the
// expected ones as of asOf.
func (w *world) check(t *testing.T, defs []*defined, asOf time.Time) {
	t.Helper()
	for _, d := range defs {
		got := w.members(d.seg.ID)
		want := w.expect(d.scope, d.def, asOf)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("segment %s/%s as of %s: %d members, want %d\n got %v\nwant %v", w.code[d.scope], d.code,
				asOf.Format(time.DateOnly), len(got), len(want), got, want)
		}
		if d.scope != (coalition.PartnerID{}) {
			for _, m := range got {
				if w.rec.home[m] != d.scope && !slices.ContainsFunc(w.rec.purchases, func(p purchase) bool {
					return p.member == m && p.partner == d.scope
				}) {
					t.Errorf("segment %s/%s holds %s, who is not the partner's customer", w.code[d.scope], d.code, m)
				}
			}
		}
		scope := segments.Coalition
		if d.scope != (coalition.PartnerID{}) {
			scope = segments.PartnerScope(d.scope)
		}
		list, err := w.seg.List(w.ctx, &scope, false)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(s segments.Segment) bool { return s.Code == d.code })
		if i < 0 || list[i].Size != int64(len(want)) || !list[i].AsOf.Equal(asOf) {
			t.Errorf("segment %s/%s listed as %+v, want size %d as of %s", w.code[d.scope], d.code, list, len(want), asOf)
		}
		if len(want) == 0 {
			t.Logf("segment %s/%s is empty as of %s", w.code[d.scope], d.code, asOf.Format(time.DateOnly))
		}
	}
	// The RFM grids, coalition-wide and per partner.
	for _, p := range append([]coalition.PartnerID{{}}, w.ids()...) {
		scope := segments.Coalition
		if p != (coalition.PartnerID{}) {
			scope = segments.PartnerScope(p)
		}
		g, err := w.seg.Grid(w.ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		var want segments.Grid
		want.AsOf = asOf
		for _, s := range w.rfm(p, asOf) {
			want.Cells[s.r-1][s.f-1]++
			want.Monetary[s.m-1]++
			want.Scored++
		}
		if !reflect.DeepEqual(g, want) {
			t.Errorf("RFM grid of %q as of %s:\n got %+v\nwant %+v", w.code[p], asOf.Format(time.DateOnly), g, want)
		}
	}
}

func (w *world) ids() []coalition.PartnerID {
	var out []coalition.PartnerID
	for _, p := range w.partners {
		out = append(out, p.ID)
	}
	return out
}

// TestSegmentsMatchAnIndependentComputationOfAGeneratedWorkload plays
// business days of purchases and refunds spread over more than a year
// (so that the look-back cuts), with categories and tiers, members who
// gave birthdays, segments of the coalition and of partners; computes the
// segments as the daily job does, twice in the middle and at the end; and
// compares each segment's members, its listed size and the RFM grids with
// a computation from the test's own record of what it did.
func TestSegmentsMatchAnIndependentComputationOfAGeneratedWorkload(t *testing.T) {
	first := date(2025, 1, 6)
	w := newWorld(t, first)
	w.clock.Set(at(first, 8, 0))
	for i := range 60 {
		w.enroll(w.partners[i%len(w.partners)])
	}
	for i, m := range w.rec.members {
		if i%3 == 0 {
			continue // gave no birthday
		}
		b := segments.Birthday{Month: 1 + w.rng.IntN(12), Day: 1 + w.rng.IntN(28)}
		if i%2 == 0 {
			b.Year = 1950 + w.rng.IntN(50)
		}
		if err := w.seg.SetBirthday(w.ctx, m, b); err != nil {
			t.Fatal(err)
		}
		w.rec.birth[m] = b
	}
	// Days of activity, 3 to 30 days apart, over about 15 months.
	var active []time.Time
	for d := first; d.Before(date(2026, 4, 1)); d = d.AddDate(0, 0, 3+w.rng.IntN(28)) {
		active = append(active, d)
	}
	cafe, cinema, shop := w.partner("cafe").ID, w.partner("cinema").ID, w.partner("shop").ID
	defs := []*defined{
		{code: "silver-gold", def: segments.Definition{Tiers: []string{"silver", "gold"}}},
		{code: "coffee", def: segments.Definition{Categories: []string{"coffee"}}},
		{code: "cinema-goers", def: segments.Definition{VisitedPartners: []string{"cinema"}}},
		{code: "explorers", def: segments.Definition{MinPartnersVisited: 3}},
		{code: "lapsed-45", def: segments.Definition{LapsedDays: 45}},
		{code: "born-in-march", def: segments.Definition{BirthdayMonth: 3}},
		{code: "champions", def: segments.Definition{Recency: rng(4, 5), Frequency: rng(4, 5)}},
		{code: "food-lapsed-big", def: segments.Definition{Categories: []string{"food", "coffee"}, LapsedDays: 20, Monetary: rng(3, 5)}},
		{scope: cafe, code: "lapsed", def: segments.Definition{LapsedDays: 30}},
		{scope: cafe, code: "coffee", def: segments.Definition{Categories: []string{"coffee"}}},
		{scope: cafe, code: "best", def: segments.Definition{Recency: rng(4, 5), Monetary: rng(3, 5)}},
		{scope: cafe, code: "gold", def: segments.Definition{Tiers: []string{"gold", "silver"}}},
		{scope: cafe, code: "at-the-cinema", def: segments.Definition{VisitedPartners: []string{"cinema"}}},
		{scope: cinema, code: "birthdays", def: segments.Definition{BirthdayMonth: 7}},
		{scope: shop, code: "all-scored", def: segments.Definition{Recency: rng(1, 5)}},
	}
	for _, d := range defs {
		scope := segments.Coalition
		if d.scope != (coalition.PartnerID{}) {
			scope = segments.PartnerScope(d.scope)
		}
		seg, err := w.seg.Define(w.ctx, scope, d.code, "Segment "+d.code, d.def)
		if err != nil {
			t.Fatalf("define %s: %v", d.code, err)
		}
		if !seg.AsOf.IsZero() || seg.Size != 0 {
			t.Fatalf("segment %s computed before any day was: %+v", d.code, seg)
		}
		d.seg = seg
	}
	mid := len(active) * 2 / 3
	for i, d := range active[:len(active)-1] {
		w.play(d, active[i+1])
		if i == mid {
			asOf, ok, err := w.seg.ComputeDue(w.ctx)
			if err != nil || !ok || !asOf.Equal(d) {
				t.Fatalf("computed %s, %v, %v; want %s", asOf, ok, err, d)
			}
			t.Run("as of a day within the first year", func(t *testing.T) { w.check(t, defs, d) })
			if _, ok, err := w.seg.ComputeDue(w.ctx); ok || err != nil {
				t.Fatalf("computed the same day twice: %v", err)
			}
		}
	}
	last := active[len(active)-2]
	t.Logf("%d members, %d purchases, %d refunds over %d days of activity, %s to %s", len(w.rec.members), len(w.rec.purchases),
		len(w.rec.refunds), len(active)-1, first.Format(time.DateOnly), last.Format(time.DateOnly))
	if _, ok, err := w.seg.ComputeDue(w.ctx); !ok || err != nil {
		t.Fatalf("the last day was not computed: %v", err)
	}
	t.Run("as of the last day, more than a year after the first", func(t *testing.T) { w.check(t, defs, last) })
	t.Run("computing the same day again changes nothing", func(t *testing.T) {
		before := map[uuid.UUID][]coalition.MemberID{}
		for _, d := range defs {
			before[d.seg.ID] = w.members(d.seg.ID)
		}
		if err := w.seg.Compute(w.ctx, last); err != nil {
			t.Fatal(err)
		}
		for _, d := range defs {
			if got := w.members(d.seg.ID); !reflect.DeepEqual(got, before[d.seg.ID]) {
				t.Errorf("segment %s changed on recomputing the same day", d.code)
			}
		}
		w.check(t, defs, last)
	})
	t.Run("a segment defined after the day's computation is computed at once", func(t *testing.T) {
		d := &defined{scope: cinema, code: "regulars", def: segments.Definition{Frequency: rng(3, 5), Categories: []string{"film"}}}
		seg, err := w.seg.Define(w.ctx, segments.PartnerScope(cinema), d.code, "Regulars", d.def)
		if err != nil {
			t.Fatal(err)
		}
		d.seg = seg
		if want := w.expect(cinema, d.def, last); seg.Size != int64(len(want)) || !seg.AsOf.Equal(last) {
			t.Fatalf("defined %+v, want size %d as of %s", seg, len(want), last)
		}
		w.check(t, []*defined{d}, last)
		// Previewing the same definition counts the same.
		p, err := w.seg.Preview(w.ctx, segments.PartnerScope(cinema), d.def, true)
		if err != nil || p.Size != seg.Size {
			t.Fatalf("preview %+v, %v; want size %d", p, err, seg.Size)
		}
		// Redefined the same way, it is the same segment.
		again, err := w.seg.Define(w.ctx, segments.PartnerScope(cinema), d.code, "Regulars", d.def)
		if err != nil || again.ID != seg.ID || !again.UpdatedAt.Equal(seg.UpdatedAt) {
			t.Fatalf("defined again: %+v, %v; want the same segment unchanged", again, err)
		}
		// Retired, it loses its members and keeps its row.
		r, err := w.seg.Retire(w.ctx, segments.PartnerScope(cinema), d.code)
		if err != nil || !r.Retired || r.Size != 0 || len(w.members(seg.ID)) != 0 {
			t.Fatalf("retired %+v, %v: %d members left", r, err, len(w.members(seg.ID)))
		}
	})
}
