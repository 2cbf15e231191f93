package finance_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	berlin, _ = time.LoadLocation("Europe/Berlin")
	clerk     = finance.Actor{ID: "key:clerk", Name: "Clerk"}
	approver  = finance.Actor{ID: "key:approver", Name: "Approver"}
)

// date is a business date as the clearing writes them.
func date(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

type fixture struct {
	t                  *testing.T
	ctx                context.Context
	runner             *txn.Runner
	clock              *clock.Manual
	l                  *ledger.Ledger
	c                  *clearing.Clearing
	f                  *finance.Finance
	cafe, cinema, fuel partners.Partner
	n                  int
}

// newFixture is a coalition of three partners trading in euros from
// Tuesday 2026-03-10 (Berlin), with a 1 % interchange fee, points worth
// 0.01 EUR each.
func newFixture(t *testing.T) *fixture {
	ctx := context.Background()
	runner, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewManual(time.Date(2026, 3, 10, 12, 0, 0, 0, berlin))
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	l := ledger.New(ledger.Config{Tx: runner, Clock: c.Now, Phones: hasher})
	if err := l.Bootstrap(ctx, ledger.Settings{Name: "T", Currency: "EUR", TimeZone: "Europe/Berlin", PointValueMinor: 1,
		InterchangeFeeBP: 100}); err != nil {
		t.Fatal(err)
	}
	cl := clearing.New(clearing.Config{Tx: runner, Clock: c.Now})
	fx := &fixture{t: t, ctx: ctx, runner: runner, clock: c, l: l, c: cl,
		f: finance.New(finance.Config{Tx: runner, Clock: c.Now, Clearing: cl, Ledger: l})}
	reg := partners.New(partners.Config{Tx: runner, Clock: c.Now})
	add := func(code string, ttl int) partners.Partner {
		p, err := reg.Add(ctx, partners.Partner{ID: coalition.NewPartnerID(), Code: code, Name: code, Kind: code,
			EarnRateBP: 1000, PointsTTLDays: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	fx.cafe, fx.cinema, fx.fuel = add("cafe", 365), add("cinema", 365), add("fuel", 60)
	return fx
}

func (f *fixture) key() string { f.n++; return fmt.Sprintf("k%d", f.n) }

func (f *fixture) enroll(p partners.Partner) ledger.MemberRef {
	m, err := f.l.Enroll(f.ctx, p.ID, ledger.Enrollment{IdempotencyKey: f.key()})
	if err != nil {
		f.t.Fatal(err)
	}
	return ledger.MemberRef{ID: m.ID}
}

// accrue earns 10 % of the purchase in points (1 point = 0.01 EUR).
func (f *fixture) accrue(p partners.Partner, m ledger.MemberRef, minor int64) {
	f.t.Helper()
	if _, err := f.l.Accrue(f.ctx, p.ID, ledger.Accrual{IdempotencyKey: f.key(), Member: m, OrderID: f.key(),
		Purchase: coalition.Money{Minor: minor, Currency: "EUR"}}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) redeem(p partners.Partner, m ledger.MemberRef, points coalition.Points) {
	f.t.Helper()
	if _, err := f.l.Redeem(f.ctx, p.ID, ledger.Redemption{IdempotencyKey: f.key(), Member: m, OrderID: f.key(), Points: points}); err != nil {
		f.t.Fatal(err)
	}
}

// at sets the clock to a time of day in Berlin.
func (f *fixture) at(day string, hour, minute int) {
	d := date(day)
	f.clock.Set(time.Date(d.Year(), d.Month(), d.Day(), hour, minute, 0, 0, berlin))
}

// clearDue clears every window whose day has ended and returns the nets of
// each cleared day, by party.
func (f *fixture) clearDue() map[string]map[string]int64 {
	f.t.Helper()
	days, err := f.c.RunDue(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]map[string]int64{}
	for _, d := range days {
		b, err := f.c.Stored(f.ctx, d)
		if err != nil {
			f.t.Fatal(err)
		}
		r, err := clearing.Decode(b)
		if err != nil {
			f.t.Fatal(err)
		}
		out[d.Format(time.DateOnly)] = map[string]int64{}
		for _, n := range r.Nets {
			out[d.Format(time.DateOnly)][n.Party] = n.Net
		}
	}
	return out
}

func (f *fixture) check() {
	f.t.Helper()
	breaches, err := f.l.Check(f.ctx, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(breaches) > 0 {
		f.t.Fatalf("ledger check: %v", breaches)
	}
}

func code(err error) coalition.Code {
	if e, ok := coalition.AsError(err); ok {
		return e.Code
	}
	return 0
}

func TestBankDetailsTakeEffectOnlyWhenASecondPersonConfirmsThem(t *testing.T) {
	f := newFixture(t)
	first, err := f.f.ProposeAccount(f.ctx, clerk, finance.BankAccount{Party: "cafe", LegalName: "Cafe GmbH",
		IBAN: "DE89 3704 0044 0532 0130 00", BIC: "COBADEFFXXX", Currency: "EUR", Frequency: finance.Weekly, PaymentDays: 3})
	if err != nil {
		t.Fatal(err)
	}
	if first.IBAN != "DE89370400440532013000" || first.Status != "proposed" {
		t.Fatalf("proposed = %+v", first)
	}
	if _, err := f.f.DecideAccount(f.ctx, clerk, first.ID, true); code(err) != coalition.PermissionDenied {
		t.Fatalf("the proposer confirming its own change: %v, want PermissionDenied", err)
	}
	if _, err := f.f.DecideAccount(f.ctx, approver, first.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.f.DecideAccount(f.ctx, approver, first.ID, false); code(err) != coalition.FailedPrecondition {
		t.Fatalf("deciding twice: %v, want FailedPrecondition", err)
	}
	f.clock.Advance(time.Hour)
	second, err := f.f.ProposeAccount(f.ctx, approver, finance.BankAccount{Party: "cafe", LegalName: "Cafe GmbH",
		IBAN: "GB82WEST12345698765432", Currency: "EUR", Frequency: finance.Monthly, PaymentDays: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.f.DecideAccount(f.ctx, clerk, second.ID, true); err != nil {
		t.Fatal(err)
	}
	got, err := f.f.Accounts(f.ctx, "cafe")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != second.ID || got[0].Status != "confirmed" || got[1].Status != "superseded" ||
		got[1].DecidedBy.ID != approver.ID || got[0].DecidedBy.ID != clerk.ID {
		t.Fatalf("history = %+v", got)
	}

	for _, c := range []struct {
		name  string
		a     finance.BankAccount
		field string
	}{
		{"a wrong IBAN check digit", finance.BankAccount{Party: "fuel", LegalName: "F", IBAN: "DE88370400440532013000", Currency: "EUR"}, "iban"},
		{"no account at all", finance.BankAccount{Party: "fuel", LegalName: "F", Currency: "EUR"}, "iban"},
		{"a malformed BIC", finance.BankAccount{Party: "fuel", LegalName: "F", IBAN: "DE89370400440532013000", BIC: "COBA", Currency: "EUR"}, "bic"},
		{"no currency", finance.BankAccount{Party: "fuel", LegalName: "F", IBAN: "DE89370400440532013000"}, "currency"},
		{"an unknown party", finance.BankAccount{Party: "nobody", LegalName: "F", IBAN: "DE89370400440532013000", Currency: "EUR"}, "party"},
		{"terms beyond 90 days", finance.BankAccount{Party: "fuel", LegalName: "F", IBAN: "DE89370400440532013000", Currency: "EUR", PaymentDays: 91}, "payment_days"},
	} {
		_, err := f.f.ProposeAccount(f.ctx, clerk, c.a)
		if e, ok := coalition.AsError(err); !ok || e.Field != c.field {
			t.Errorf("%s: %v, want an error on %s", c.name, err, c.field)
		}
	}
	if _, err := f.f.ProposeAccount(f.ctx, finance.Actor{}, finance.BankAccount{Party: "fuel"}); code(err) != coalition.PermissionDenied {
		t.Fatalf("an anonymous proposal: %v", err)
	}
}

// tradeTuesdayAndWednesday posts two days of traffic and clears them at
// Thursday 00:30, returning each day's nets: on Tuesday a member earns at
// the café and the cinema and spends at the fuel station; on Wednesday the
// member spends more.
func (f *fixture) tradeTuesdayAndWednesday() map[string]map[string]int64 {
	m := f.enroll(f.cafe)
	f.accrue(f.cafe, m, 100_00)  // 1,000 café points
	f.accrue(f.cinema, m, 50_00) // 500 cinema points
	f.redeem(f.fuel, m, 600)     // 600 of the café's: the café owes the fuel station 6.00
	f.at("2026-03-11", 0, 30)
	nets := f.clearDue()
	f.at("2026-03-11", 9, 0)
	f.redeem(f.fuel, m, 700) // 400 café + 300 cinema
	f.redeem(f.cafe, m, 100) // the cinema's: the cinema owes the café 1.00
	f.at("2026-03-12", 0, 30)
	for d, n := range f.clearDue() {
		nets[d] = n
	}
	return nets
}

func TestInstructionsFollowEachPartnersTermsAndAreMadeOnce(t *testing.T) {
	f := newFixture(t)
	// The café is paid weekly, 3 days after the week; the others daily,
	// 2 days after (no confirmed details).
	a, err := f.f.ProposeAccount(f.ctx, clerk, finance.BankAccount{Party: "cafe", LegalName: "Cafe GmbH",
		IBAN: "DE89370400440532013000", Currency: "EUR", Frequency: finance.Weekly, PaymentDays: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.f.DecideAccount(f.ctx, approver, a.ID, true); err != nil {
		t.Fatal(err)
	}
	nets := f.tradeTuesdayAndWednesday()
	if len(nets) != 2 {
		t.Fatalf("cleared %v", nets)
	}
	made, err := f.f.MakeInstructions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Thursday's window is open: the daily partners' Tuesday and Wednesday
	// are made, the café's week waits.
	type key struct{ party, from string }
	got := map[key]finance.Instruction{}
	for _, in := range made {
		got[key{in.Party, in.From.Format(time.DateOnly)}] = in
	}
	for _, day := range []string{"2026-03-10", "2026-03-11"} {
		for _, p := range []string{"cinema", "fuel"} {
			in, ok := got[key{p, day}]
			if !ok {
				t.Fatalf("no instruction for %s on %s: %+v", p, day, made)
			}
			want := nets[day][p]
			if in.ReportsMinor != want || in.To != in.From || in.Due != date(day).AddDate(0, 0, 2) {
				t.Errorf("%s %s: %+v, want net %d due 2 days after", p, day, in, want)
			}
			wantDir, wantMinor := finance.None, int64(0)
			if want > 0 {
				wantDir, wantMinor = finance.Pay, want
			} else if want < 0 {
				wantDir, wantMinor = finance.Collect, -want
			}
			if in.Direction != wantDir || in.Minor != wantMinor {
				t.Errorf("%s %s: %s %d, want %s %d", p, day, in.Direction, in.Minor, wantDir, wantMinor)
			}
		}
	}
	if len(made) != 4 {
		t.Fatalf("made %d instructions, want 4 (no café week yet): %+v", len(made), made)
	}
	again, err := f.f.MakeInstructions(f.ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("made again: %+v, %v", again, err)
	}

	// Monday: Thursday's window is cleared, and the café's week (from
	// Tuesday, its first cleared window, to Sunday) is complete.
	f.at("2026-03-16", 0, 30)
	more := f.clearDue()
	made, err = f.f.MakeInstructions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var week *finance.Instruction
	for i, in := range made {
		if in.Party == "cafe" {
			week = &made[i]
		}
	}
	if week == nil {
		t.Fatalf("no café week in %+v", made)
	}
	wantNet := nets["2026-03-10"]["cafe"] + nets["2026-03-11"]["cafe"] + more["2026-03-12"]["cafe"]
	if week.From != date("2026-03-10") || week.To != date("2026-03-15") || week.Due != date("2026-03-18") ||
		week.ReportsMinor != wantNet || week.Direction != finance.Collect || week.Minor != -wantNet {
		t.Fatalf("café week = %+v, want 03-10..03-15 due 03-18, net %d", week, wantNet)
	}
	all, err := f.f.Instructions(f.ctx, finance.InstructionFilter{Party: "cafe"})
	if err != nil || len(all) != 1 || all[0].EndToEndID != week.EndToEndID {
		t.Fatalf("café's instructions = %+v, %v", all, err)
	}
	ids := map[string]bool{}
	all, _ = f.f.Instructions(f.ctx, finance.InstructionFilter{WithZeroPeriods: true})
	for _, in := range all {
		if ids[in.EndToEndID] || len(in.EndToEndID) > 35 {
			t.Fatalf("end-to-end id %q repeated or too long", in.EndToEndID)
		}
		ids[in.EndToEndID] = true
	}
}

func TestAMoneyAdjustmentIsCarriedOnceByThePayersAndThePayeesNextInstruction(t *testing.T) {
	f := newFixture(t)
	nets := f.tradeTuesdayAndWednesday()
	adj, err := f.f.ProposeAdjustment(f.ctx, clerk, finance.Adjustment{Kind: finance.MoneyAdjustment, Payer: "cinema", Payee: "fuel",
		Minor: 250, BusinessDate: date("2026-03-10"), Reason: "fuel pump promotion billed twice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.f.DecideAdjustment(f.ctx, clerk, adj.ID, true, ""); code(err) != coalition.PermissionDenied {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := f.f.DecideAdjustment(f.ctx, approver, adj.ID, true, "checked against the till log"); err != nil {
		t.Fatal(err)
	}
	made, err := f.f.MakeInstructions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	carried := map[string]int64{}
	for _, in := range made {
		carried[in.Party] += in.AdjustmentMinor
		if in.ReportsMinor != nets[in.From.Format(time.DateOnly)][in.Party] {
			t.Errorf("%+v: reports part differs from the report", in)
		}
		if net := in.ReportsMinor + in.AdjustmentMinor; (in.Direction == finance.Pay && in.Minor != net) ||
			(in.Direction == finance.Collect && in.Minor != -net) {
			t.Errorf("%+v: amount is not the net", in)
		}
	}
	if carried["cinema"] != -250 || carried["fuel"] != 250 || carried["cafe"] != 0 {
		t.Fatalf("carried = %v, want cinema -250, fuel +250", carried)
	}
	got, err := f.f.Adjustments(f.ctx, "approved", 10)
	if err != nil || len(got) != 1 || got[0].PayerInstruction == "" || got[0].PayeeInstruction == "" ||
		got[0].DecidedBy.Name != "Approver" || got[0].DecisionNote != "checked against the till log" {
		t.Fatalf("adjustment after = %+v, %v", got, err)
	}

	rejected, err := f.f.ProposeAdjustment(f.ctx, clerk, finance.Adjustment{Kind: finance.MoneyAdjustment, Payer: "cafe", Payee: "fuel",
		Minor: 999, BusinessDate: date("2026-03-10"), Reason: "typo"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.f.DecideAdjustment(f.ctx, approver, rejected.ID, false, "no such dispute"); err != nil {
		t.Fatal(err)
	}
	f.at("2026-03-13", 0, 30)
	f.clearDue()
	made, err = f.f.MakeInstructions(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range made {
		if in.AdjustmentMinor != 0 {
			t.Fatalf("an adjustment carried twice, or a rejected one carried: %+v", in)
		}
	}
	if _, err := f.f.ProposeAdjustment(f.ctx, clerk, finance.Adjustment{Kind: finance.MoneyAdjustment, Payer: "cafe", Payee: "fuel",
		Minor: 1, BusinessDate: date("2026-03-13"), Reason: "open window"}); code(err) != coalition.FailedPrecondition {
		t.Fatalf("an adjustment of an uncleared window: %v", err)
	}
}

func TestAPointsAdjustmentPostsExactlyOnceUnderConcurrentApprovers(t *testing.T) {
	f := newFixture(t)
	m := f.enroll(f.cafe)
	adj, err := f.f.ProposeAdjustment(f.ctx, clerk, finance.Adjustment{Kind: finance.PointsAdjustment, Member: m.ID,
		Points: 120, Funder: "cinema", Reason: "points lost when the till was offline"})
	if err != nil {
		t.Fatal(err)
	}
	rejected, err := f.f.ProposeAdjustment(f.ctx, clerk, finance.Adjustment{Kind: finance.PointsAdjustment, Member: m.ID,
		Points: 5000, Funder: "operator", Reason: "goodwill"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.f.DecideAdjustment(f.ctx, approver, rejected.ID, false, "too much"); err != nil {
		t.Fatal(err)
	}
	const approvers = 6
	errs := make(chan error, approvers)
	for i := range approvers {
		go func() {
			_, err := f.f.DecideAdjustment(f.ctx, finance.Actor{ID: fmt.Sprintf("key:a%d", i), Name: "A"}, adj.ID, true, "")
			errs <- err
		}()
	}
	approved := 0
	for range approvers {
		switch err := <-errs; {
		case err == nil:
			approved++
		case code(err) != coalition.FailedPrecondition:
			t.Fatalf("a concurrent approver: %v", err)
		}
	}
	if approved != 1 {
		t.Fatalf("%d approvals succeeded, want 1", approved)
	}
	bal, err := f.l.BalanceOf(f.ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Available != 120 {
		t.Fatalf("balance = %+v, want 120 points", bal)
	}
	got, err := f.f.Adjustments(f.ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range got {
		if (a.ID == adj.ID) != (a.TransactionID != nil) {
			t.Fatalf("adjustment %+v: only the approved one has a posting", a)
		}
	}
	f.check()

	// The cinema pays for the points in the window's clearing, as for any
	// bonus it funds.
	f.at("2026-03-11", 0, 30)
	f.clearDue()
	b, err := f.c.Stored(f.ctx, date("2026-03-10"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := clearing.Decode(b)
	var issued coalition.Points
	for _, is := range r.Issued {
		if is.Partner == "cinema" {
			issued = is.Points
		}
	}
	if issued != 120 {
		t.Fatalf("cinema issued %d in the report, want 120", issued)
	}
	// Drilled down, the report's line names the adjustment, its reason and
	// both people; the cinema's own statement, the reason only.
	for _, l := range r.Lines() {
		if l.Section != clearing.SectionIssued || l.Payer != "cinema" {
			continue
		}
		_, posts, err := f.c.DrillDown(f.ctx, date("2026-03-10"), l.ID, "")
		if err != nil || len(posts) != 1 ||
			posts[0].Note != "Adjustment: points lost when the till was offline (proposed by Clerk, approved by A)" {
			t.Fatalf("drill-down of %s: %+v, %v", l.ID, posts, err)
		}
		_, posts, err = f.c.DrillDown(f.ctx, date("2026-03-10"), l.ID, "cinema")
		if err != nil || len(posts) != 1 || posts[0].Note != "Adjustment: points lost when the till was offline" {
			t.Fatalf("the cinema's drill-down of %s: %+v, %v", l.ID, posts, err)
		}
	}
	if _, err := f.f.DecideAdjustment(f.ctx, approver, uuid.New(), true, ""); code(err) != coalition.NotFound {
		t.Fatalf("deciding an unknown adjustment: %v", err)
	}
	if _, err := f.f.ProposeAdjustment(f.ctx, clerk, finance.Adjustment{Kind: finance.PointsAdjustment, Member: m.ID,
		Points: 1, Funder: "nobody", Reason: "x"}); code(err) != coalition.NotFound {
		t.Fatalf("an unknown funder: %v", err)
	}
	if _, err := f.f.ProposeAdjustment(f.ctx, clerk, finance.Adjustment{Kind: finance.PointsAdjustment, Member: m.ID,
		Points: 0, Funder: "cafe", Reason: "x"}); code(err) != coalition.Invalid {
		t.Fatalf("zero points: %v", err)
	}
}

var _ = errors.New

func TestTheMonthEndLiabilityRollsForwardToTheUnit(t *testing.T) {
	f := newFixture(t)
	m2 := f.enroll(f.fuel)
	f.accrue(f.fuel, m2, 200_00) // 2,000 fuel points, expiring on 9 May
	f.tradeTuesdayAndWednesday()
	f.check()

	march, err := f.f.MonthEnd(f.ctx, date("2026-03-20"))
	if err != nil {
		t.Fatal(err)
	}
	// Issued: café 1,000, cinema 500, fuel 2,000. Spent: the café's 1,000
	// (600 + 400) and 400 of the cinema's (300 + 100).
	want := map[string]finance.IssuerLiability{
		"cafe":   {Issued: 1000, Burned: 1000, Closing: 0},
		"cinema": {Issued: 500, Burned: 400, Closing: 100},
		"fuel":   {Issued: 2000, Closing: 2000},
	}
	got := map[string]finance.IssuerLiability{}
	for _, l := range march.Issuers {
		got[l.Issuer] = l
		if !l.Balances() {
			t.Errorf("%s does not roll forward: %+v", l.Issuer, l)
		}
	}
	for code, w := range want {
		g := got[code]
		if g.Opening != 0 || g.Issued != w.Issued || g.Burned != w.Burned || g.Closing != w.Closing || g.Expired != 0 {
			t.Errorf("March, %s: %+v, want %+v", code, g, w)
		}
	}
	// The cinema's points expire in a year (181-365 days after the 31st),
	// the fuel station's on 9 May (31-90 days).
	if got["cinema"].Ageing[4] != 100 || got["fuel"].Ageing[2] != 2000 || march.Network.Closing != 2100 ||
		march.Network.ClosingMinor != 2100 || march.Final {
		t.Fatalf("March: %+v (final while March's window is still open: %v)", march, march.Final)
	}
	// The report of the last window says the same outstanding points.
	b, err := f.c.Stored(f.ctx, date("2026-03-11"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := clearing.Decode(b)
	for _, l := range r.Liabilities {
		if got[l.Partner].Closing != l.Outstanding {
			t.Errorf("%s: report says %d outstanding, the statement %d", l.Partner, l.Outstanding, got[l.Partner].Closing)
		}
	}

	// In May the fuel station's points expire unspent.
	f.at("2026-05-10", 1, 0)
	f.clearDue()
	if n, err := f.l.ExpireLots(f.ctx, 100); err != nil || n == 0 {
		t.Fatalf("expired %d lots, %v", n, err)
	}
	f.at("2026-06-01", 0, 30)
	f.clearDue()
	f.check()
	march, _ = f.f.MonthEnd(f.ctx, date("2026-03-01"))
	may, err := f.f.MonthEnd(f.ctx, date("2026-05-31"))
	if err != nil {
		t.Fatal(err)
	}
	if !march.Final || !may.Final {
		t.Fatalf("March final %v, May final %v: both months are over and cleared", march.Final, may.Final)
	}
	for _, l := range may.Issuers {
		if !l.Balances() {
			t.Errorf("May, %s does not roll forward: %+v", l.Issuer, l)
		}
		if l.Issuer == "fuel" && (l.Opening != 2000 || l.Expired != 2000 || l.Closing != 0 || l.BreakageBP != 10_000) {
			t.Errorf("May, fuel: %+v", l)
		}
		if l.Issuer == "cinema" && (l.Opening != 100 || l.Closing != 100) {
			t.Errorf("May, cinema: %+v", l)
		}
	}
	if may.Network.Opening != march.Network.Closing || may.Network.Closing != 100 {
		t.Fatalf("network: March closes at %d, May opens at %d and closes at %d", march.Network.Closing, may.Network.Opening, may.Network.Closing)
	}
}
