package passes_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/offers"
	"github.com/coalition-loyalty/coalition/coalition/passes"
	"github.com/coalition-loyalty/coalition/coalition/segments"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
)

// offerFields is what pass.json shows of offers.
type offerFields struct {
	StoreCard struct {
		SecondaryFields []struct{ Key, Label, Value string } `json:"secondaryFields"`
		BackFields      []struct {
			Key, Label string
			Value      any
		} `json:"backFields"`
	} `json:"storeCard"`
}

// passOffers reads the offer on the front of the member's pass and the
// lines of its back's offers.
func (w *world) passOffers(member coalition.MemberID) (front string, back []string) {
	w.t.Helper()
	b, err := w.passes.MemberPass(w.ctx, member)
	if err != nil {
		w.t.Fatal(err)
	}
	var f offerFields
	if err := json.Unmarshal(unzip(w.t, b)["pass.json"], &f); err != nil {
		w.t.Fatal(err)
	}
	for _, s := range f.StoreCard.SecondaryFields {
		if s.Key == "offer" {
			front = s.Value
		}
	}
	for _, s := range f.StoreCard.BackFields {
		if s.Key == "offers" {
			back = strings.Split(s.Value.(string), "\n")
		}
	}
	return front, back
}

// enroll makes another member of the café, with a pass.
func (w *world) enrollWithPass() ledger.Member {
	w.t.Helper()
	m, err := w.ledger.Enroll(w.ctx, w.cafe.ID, ledger.Enrollment{IdempotencyKey: w.key()})
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.passes.MemberPass(w.ctx, m.ID); err != nil {
		w.t.Fatal(err)
	}
	return m
}

// offerEvents are the outbox's events written since the last call, as
// "kind member" lines.
type eventLog struct {
	w    *world
	seen map[string]bool
}

func (l *eventLog) next() map[string]string {
	l.w.t.Helper()
	rows, _ := l.w.tx.Pool().Query(l.w.ctx, `SELECT event_id::TEXT, member_id::TEXT, kind || ' ' || message FROM pass_outbox`)
	out := map[string]string{}
	var id, member, what string
	if _, err := pgx.ForEachRow(rows, []any{&id, &member, &what}, func() error {
		if !l.seen[id] {
			l.seen[id] = true
			out[member] = what
		}
		return nil
	}); err != nil {
		l.w.t.Fatal(err)
	}
	return out
}

func (w *world) sync(wantAnnounced, wantWithdrawn int64) {
	w.t.Helper()
	// Pages of one member: every offer's members go in several pages.
	a, wd, err := w.passes.SyncOffers(w.ctx, 1)
	if err != nil || a != wantAnnounced || wd != wantWithdrawn {
		w.t.Fatalf("sync: announced %d, withdrawn %d, %v; want %d and %d", a, wd, err, wantAnnounced, wantWithdrawn)
	}
}

func TestPassesFollowTheOffersThatTargetTheirMembers(t *testing.T) {
	w := newWorld(t)
	w.withPass()
	anna := w.member
	boris := w.enrollWithPass()
	carl := w.enrollWithPass()
	// Dana has no pass: nothing is written for her.
	dana, err := w.ledger.Enroll(w.ctx, w.cafe.ID, ledger.Enrollment{IdempotencyKey: w.key()})
	if err != nil {
		t.Fatal(err)
	}
	segs := segments.New(segments.Config{Tx: w.tx, Clock: w.clock.Now})
	birthday := func(m ledger.Member, month int) {
		t.Helper()
		if err := segs.SetBirthday(w.ctx, m.ID, segments.Birthday{Month: month, Day: 5}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := segs.Define(w.ctx, segments.Coalition, "march", "Born in March", segments.Definition{BirthdayMonth: 3}); err != nil {
		t.Fatal(err)
	}
	birthday(anna, 3)
	birthday(dana, 3)
	day := start.Truncate(24 * time.Hour)
	if err := segs.Compute(w.ctx, day); err != nil {
		t.Fatal(err)
	}
	operator := offers.Actor{Operator: true}
	now := w.clock.Now()
	create := func(o offers.Offer) {
		t.Helper()
		o.BonusPoints, o.BudgetPoints = 25, 10_000
		if _, err := w.offers.Create(w.ctx, operator, o); err != nil {
			t.Fatal(err)
		}
	}
	create(offers.Offer{Code: "MARCH", Name: "Birthday month", Segment: "march", Starts: now.Add(-time.Hour), Ends: now.AddDate(0, 0, 10)})
	create(offers.Offer{Code: "CARL", Name: "For Carl", Members: []string{carl.CardNumber}, Starts: now.Add(time.Hour), Ends: now.AddDate(0, 0, 20)})
	log := &eventLog{w: w, seen: map[string]bool{}}

	// The segment's offer is in force: announced to Anna, the one member
	// of the segment with a pass; Carl's has not begun.
	w.sync(1, 0)
	if got, want := log.next(), map[string]string{anna.ID.String(): "promotion New offer: Birthday month, until 20 Mar 2026"}; !maps.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	front, back := w.passOffers(anna.ID)
	if front != "Birthday month" || !slices.Equal(back, []string{"Birthday month: 25 bonus points, until 20 Mar 2026"}) {
		t.Fatalf("Anna's pass shows %q on the front and %q on the back", front, back)
	}
	if front, back := w.passOffers(boris.ID); front != "" || back != nil {
		t.Fatalf("Boris's pass shows %q and %q", front, back)
	}
	// The announcement is delivered like any notice: Google's object gets
	// the offer's text module.
	if d := w.deliver(); d != 1 {
		t.Fatalf("delivered %d", d)
	}
	obj, _ := w.google.Object(w.objectID())
	if !slices.ContainsFunc(obj.TextModulesData, func(m googlewallet.TextModuleData) bool {
		return m.ID == "offers" && m.Body == "Birthday month: 25 bonus points, until 20 Mar 2026"
	}) {
		t.Fatalf("Google object's modules: %+v", obj.TextModulesData)
	}
	// Nothing changed: nothing written.
	w.sync(0, 0)

	// Carl's offer begins.
	w.clock.Advance(2 * time.Hour)
	w.sync(1, 0)
	if got := log.next(); len(got) != 1 || !strings.HasPrefix(got[carl.ID.String()], "promotion New offer: For Carl") {
		t.Fatalf("events %v", got)
	}
	// The next day's segments: Boris told his birthday, Anna changed hers.
	birthday(boris, 3)
	birthday(anna, 4)
	if err := segs.Compute(w.ctx, day.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	w.sync(1, 1)
	if got, want := log.next(), map[string]string{
		boris.ID.String(): "promotion New offer: Birthday month, until 20 Mar 2026",
		anna.ID.String():  "refresh ",
	}; !maps.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if front, back := w.passOffers(anna.ID); front != "" || back != nil {
		t.Fatalf("Anna's pass still shows %q and %q", front, back)
	}
	// The operator ends the offer: off Boris's pass.
	if _, err := w.offers.End(w.ctx, operator, "MARCH"); err != nil {
		t.Fatal(err)
	}
	w.sync(0, 1)
	if got, want := log.next(), map[string]string{boris.ID.String(): "refresh "}; !maps.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// A coupon issued to Anna puts its offer on her pass, with the code.
	if _, err := w.offers.Create(w.ctx, operator, offers.Offer{Code: "COUPON", Name: "Coupon", BonusPoints: 5, BudgetPoints: 100,
		Starts: w.clock.Now(), Ends: w.clock.Now().AddDate(0, 0, 5)}); err != nil {
		t.Fatal(err)
	}
	cs, err := w.offers.IssueCoupons(w.ctx, operator, offers.Issue{Offer: "COUPON", RequestKey: "anna", Count: 1, MaxUses: 1, MemberCard: anna.CardNumber})
	if err != nil {
		t.Fatal(err)
	}
	w.sync(1, 0)
	if got := log.next(); len(got) != 1 || !strings.HasPrefix(got[anna.ID.String()], "promotion New offer: Coupon") {
		t.Fatalf("events %v", got)
	}
	if _, back := w.passOffers(anna.ID); !slices.Equal(back, []string{"Coupon: 5 bonus points, until 15 Mar 2026, coupon " + offers.Printed(cs[0].Code)}) {
		t.Fatalf("Anna's pass: %q", back)
	}
	// Carl's offer lapses at its end: off his pass, and Anna's coupon's too.
	w.clock.Advance(21 * 24 * time.Hour)
	w.sync(0, 2)
	if got := log.next(); len(got) != 2 || got[carl.ID.String()] != "refresh " || got[anna.ID.String()] != "refresh " {
		t.Fatalf("events %v", got)
	}
	w.sync(0, 0)
	if n := w.count(`SELECT count(*) FROM pass_offers_shown`); n != 0 {
		t.Fatalf("%d offers still recorded on passes", n)
	}
	if n := w.count(`SELECT count(*) FROM pass_outbox WHERE member_id = $1`, dana.ID); n != 0 {
		t.Fatalf("%d events for a member without a pass", n)
	}
}

func TestAPassShowsTheOffersEndingSoonestFirst(t *testing.T) {
	w := newWorld(t)
	w.withPass()
	now := w.clock.Now()
	var want []string
	for i, days := range []int{9, 3, 12, 5} {
		code := string(rune('A' + i))
		if _, err := w.offers.Create(w.ctx, offers.Actor{Operator: true}, offers.Offer{Code: code, Name: "Offer " + code,
			Members: []string{w.member.CardNumber}, MultiplierBP: 5000, BudgetPoints: 100, Starts: now, Ends: now.AddDate(0, 0, days)}); err != nil {
			t.Fatal(err)
		}
		if days < 12 {
			want = append(want, "Offer "+code+": +50% of the base points, until "+now.AddDate(0, 0, days).Format("2 Jan 2006"))
		}
	}
	// Ends 3, 5 and 9 days ahead: B, D, A; C (12 days) does not fit.
	want = []string{want[1], want[2], want[0]}
	if passes.MaxOffers != 3 {
		t.Fatalf("MaxOffers is %d; the test expects 3", passes.MaxOffers)
	}
	front, back := w.passOffers(w.member.ID)
	if front != "Offer B" || !slices.Equal(back, want) {
		t.Fatalf("front %q, back %q; want Offer B and %q", front, back, want)
	}
}
