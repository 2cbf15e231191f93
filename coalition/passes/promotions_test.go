package passes_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/passes"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

func TestANewPromotionIsAnnouncedOnceToTheMembersOfItsTiers(t *testing.T) {
	w := newWorld(t)
	w.withPass()
	// A second member with a pass, in the gold tier.
	gold, err := w.ledger.Enroll(w.ctx, w.cafe.ID, ledger.Enrollment{IdempotencyKey: w.key()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.passes.MemberPass(w.ctx, gold.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.tx.Pool().Exec(w.ctx, `INSERT INTO member_tiers (member_id, tier, since, reviewed_at) VALUES ($1, 'gold', $2, $2)`,
		gold.ID, start); err != nil {
		t.Fatal(err)
	}
	now := w.clock.Now()
	rs := rules.RuleSet{Promotions: []rules.Promotion{
		{Code: "gold-week", Name: "Gold week", Starts: now.Add(-time.Hour), Ends: now.AddDate(0, 0, 7), Tiers: []string{"gold"}, BonusPoints: 10},
		{Code: "everyone", Name: "Double points", Starts: now.Add(-time.Minute), Ends: now.AddDate(0, 0, 1), MultiplierBP: 10_000},
		{Code: "later", Name: "Not yet", Starts: now.Add(time.Hour), Ends: now.AddDate(0, 0, 2), BonusPoints: 1},
	}}
	// Pages of one member: the announcement goes through the holders in
	// pages and records itself at the end.
	n, err := w.passes.EnqueuePromotions(w.ctx, rs, 1)
	if err != nil || n != 3 {
		t.Fatalf("announced %d, %v; want gold week to one member and double points to both", n, err)
	}
	if n, err := w.passes.EnqueuePromotions(w.ctx, rs, 1); err != nil || n != 0 {
		t.Fatalf("announced again: %d, %v", n, err)
	}
	rows, _ := w.tx.Pool().Query(w.ctx, `SELECT member_id::TEXT || ' ' || message FROM pass_outbox WHERE kind = 'promotion' ORDER BY 1`)
	events, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	wantGold := gold.ID.String() + " New offer: Gold week, until 17 Mar 2026"
	if len(events) != 3 || !slices.Contains(events, wantGold) {
		t.Fatalf("events: %q", events)
	}
	// The announced promotion's events are delivered as any other.
	if d := w.deliver(); d != 3 {
		t.Fatalf("delivered %d", d)
	}
}

func TestAPassKeepsItsNewestTokensOnly(t *testing.T) {
	w := newWorld(t)
	serial, first := w.withPass()
	var last string
	for range passes.MaxTokens {
		w.clock.Advance(time.Minute)
		last = passJSON(t, unzip(t, w.memberPass())).AuthenticationToken
	}
	if n := w.count(`SELECT count(*) FROM wallet_pass_tokens`); n != passes.MaxTokens {
		t.Fatalf("%d tokens kept, want %d", n, passes.MaxTokens)
	}
	if _, err := w.passes.LatestPass(w.ctx, passType, serial, last, time.Time{}); err != nil {
		t.Fatalf("the newest token: %v", err)
	}
	if _, err := w.passes.LatestPass(w.ctx, passType, serial, first, time.Time{}); !errors.Is(err, passes.ErrUnauthorized) {
		t.Fatalf("the oldest token, one download too many ago: %v, want ErrUnauthorized", err)
	}
}
