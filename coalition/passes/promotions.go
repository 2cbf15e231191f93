package passes

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// RuleSource is the loyalty rules in force (package rules' Store).
type RuleSource interface {
	Current(ctx context.Context) (rules.RuleSet, error)
}

// promotionNamespace derives the ids of promotion events.
var promotionNamespace = uuid.MustParse("0b7f4c52-93d1-5e0a-8a6e-4f2c1d9b7e35")

// EnqueuePromotions announces, on the passes, every promotion of rs that
// has begun and not yet been announced: one "promotion" event to each
// member with a pass whose tier the promotion is for (every member, for a
// promotion without tiers). An event's id derives from the promotion and
// the member, so an announcement cut short and run again tells nobody
// twice; a promotion announced to everyone is recorded and not gone
// through again. It returns how many events it wrote.
func (s *Service) EnqueuePromotions(ctx context.Context, rs rules.RuleSet, limit int) (int64, error) {
	now := s.now()
	var written int64
	for _, p := range rs.Promotions {
		if now.Before(p.Starts) || !now.Before(p.Ends) {
			continue
		}
		var done bool
		if err := s.cfg.Tx.Pool().QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM pass_promotions_announced WHERE code = $1 AND starts = $2)`, p.Code, p.Starts).Scan(&done); err != nil {
			return written, fmt.Errorf("promotion %s announced: %w", p.Code, err)
		}
		if done {
			continue
		}
		n, err := s.announce(ctx, p, now, limit)
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// announce writes a promotion's events, a page of pass holders at a time,
// then records it announced.
func (s *Service) announce(ctx context.Context, p rules.Promotion, now time.Time, limit int) (int64, error) {
	var written int64
	var after coalition.MemberID // the zero id sorts first
	for {
		rows, err := s.cfg.Tx.Pool().Query(ctx, `
			SELECT w.member_id, COALESCE(t.tier, '')
			FROM wallet_passes AS w LEFT JOIN member_tiers AS t ON t.member_id = w.member_id
			WHERE w.member_id > $1
			ORDER BY w.member_id
			LIMIT $2`, after, limit)
		if err != nil {
			return written, fmt.Errorf("announce promotion %s: %w", p.Code, err)
		}
		var events []Event
		var member coalition.MemberID
		var tier string
		seen := 0
		if _, err := pgx.ForEachRow(rows, []any{&member, &tier}, func() error {
			seen++
			after = member
			if len(p.Tiers) > 0 && !slices.Contains(p.Tiers, tier) {
				return nil
			}
			events = append(events, Event{
				ID:     uuid.NewSHA1(promotionNamespace, []byte(p.Code+"/"+p.Starts.UTC().Format(time.RFC3339)+"/"+member.String())),
				Member: member, Kind: KindPromotion, At: now,
				Message: fmt.Sprintf("New offer: %s, until %s", p.Name, p.Ends.In(s.cfg.Zone).Format("2 Jan 2006")),
			})
			return nil
		}); err != nil {
			return written, fmt.Errorf("announce promotion %s: %w", p.Code, err)
		}
		last := seen < limit
		err = s.cfg.Tx.Write(ctx, func(tx pgx.Tx) error {
			n, err := Enqueue(ctx, tx, events)
			if err != nil {
				return err
			}
			written += n
			if !last {
				return nil
			}
			_, err = tx.Exec(ctx, `
				INSERT INTO pass_promotions_announced (code, starts, announced_at) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, p.Code, p.Starts, now)
			return err
		})
		if err != nil {
			return written, fmt.Errorf("announce promotion %s: %w", p.Code, err)
		}
		if last {
			return written, nil
		}
	}
}
