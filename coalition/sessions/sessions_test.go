package sessions_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestPurgeDeletesOnlyLongLapsedRows signs a member in through links over
// two months and checks that the daily purge deletes exactly the sessions
// and links that lapsed more than the retention ago, in bounded batches,
// and that the member's live session still opens the page afterwards.
func TestPurgeDeletesOnlyLongLapsedRows(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	runner, err := txn.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	c := clock.NewManual(time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC))
	hasher, _ := phone.NewHMAC([]byte("test-only phone hash key, 32+ bytes long"))
	l := ledger.New(ledger.Config{Tx: runner, Clock: c.Now, Phones: hasher})
	if err := l.Bootstrap(ctx, ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100}); err != nil {
		t.Fatal(err)
	}
	p, err := partners.New(partners.Config{Tx: runner, Clock: c.Now}).Add(ctx, partners.Partner{Code: "cafe", Name: "cafe", Kind: "cafe", EarnRateBP: 500, PointsTTLDays: 365})
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.Enroll(ctx, p.ID, ledger.Enrollment{IdempotencyKey: "m"})
	if err != nil {
		t.Fatal(err)
	}
	s := sessions.New(sessions.Config{Tx: runner, Clock: c.Now})
	count := func(table string) int {
		var n int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Day 0: three links opened (three sessions) and two never opened.
	for range 3 {
		code, _, err := s.IssueMemberLink(ctx, p.ID, m.ID, m.HomePartnerID)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.OpenMemberLink(ctx, code); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, _, err := s.IssueMemberLink(ctx, p.ID, m.ID, m.HomePartnerID); err != nil {
			t.Fatal(err)
		}
	}
	// 40 days later, one more link and session, live.
	c.Advance(40 * 24 * time.Hour)
	code, _, err := s.IssueMemberLink(ctx, p.ID, m.ID, m.HomePartnerID)
	if err != nil {
		t.Fatal(err)
	}
	_, live, err := s.OpenMemberLink(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if got := [2]int{count("web_sessions"), count("member_links")}; got != [2]int{4, 6} {
		t.Fatalf("before the purge: %v sessions and links, want [4 6]", got)
	}

	// The day-0 sessions lapsed after 7 days, 33 days ago; the links after
	// 15 minutes. With 30 days' retention all of day 0 goes, two rows of
	// each table per batch.
	var batches []int64
	for {
		n, err := s.Purge(ctx, 30*24*time.Hour, 2)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, n)
		if n < 2 {
			break
		}
	}
	if got := [2]int{count("web_sessions"), count("member_links")}; got != [2]int{1, 1} {
		t.Fatalf("after the purge: %v sessions and links, want [1 1]", got)
	}
	var total int64
	for _, n := range batches {
		if n > 4 {
			t.Errorf("a batch deleted %d rows, more than two per table", n)
		}
		total += n
	}
	if total != 8 {
		t.Errorf("purge reported %d rows deleted in batches %v, want 8", total, batches)
	}
	if _, err := s.Check(ctx, live); err != nil {
		t.Fatalf("the live session no longer opens after the purge: %v", err)
	}
	// Twenty minutes on the last link has lapsed but the session it opened
	// has not: a purge with almost no retention takes only the link.
	c.Advance(20 * time.Minute)
	if n, err := s.Purge(ctx, time.Nanosecond, 100); err != nil || n != 1 {
		t.Fatalf("purge with no retention deleted %d rows (%v), want only the used, lapsed link", n, err)
	}
	if _, err := s.Check(ctx, live); err != nil {
		t.Fatalf("the live session was purged: %v", err)
	}
	if _, _, err := s.OpenMemberLink(ctx, code); !errors.Is(err, sessions.ErrBadLink) {
		t.Fatalf("a purged, used link opened again: %v", err)
	}
}
