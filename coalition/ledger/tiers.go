package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/rules"
)

// Standing is a member's tier and the way to the next, for the member's
// own pages and for partners at checkout.
type Standing struct {
	Tier     string `json:"tier,omitempty"`
	TierName string `json:"tier_name,omitempty"`
	// Spend is the qualifying spend over the last PeriodDays days.
	Spend      int64  `json:"spend_minor"`
	PeriodDays int    `json:"period_days,omitempty"`
	NextTier   string `json:"next_tier,omitempty"`
	NextName   string `json:"next_tier_name,omitempty"`
	// Needed is the spend still needed to reach the next tier.
	Needed int64 `json:"needed_minor,omitempty"`
	// Version of the rules the standing was read under.
	Version string `json:"version"`
}

// Standing reads a member's tier under the rules in force.
func (l *Ledger) Standing(ctx context.Context, ref MemberRef) (Standing, error) {
	h, err := l.hashRef(ctx, ref)
	if err != nil {
		return Standing{}, err
	}
	var s Standing
	err = l.tx.Read(ctx, func(tx pgx.Tx) error {
		m, err := findMember(ctx, tx, reading, ref, h, "member")
		if err != nil {
			return err
		}
		now := l.now()
		rs, err := l.rulesAt(ctx, tx, now)
		if err != nil {
			return err
		}
		s = Standing{Version: rules.VersionName(rs.Version)}
		if rs.Tiers == nil {
			return nil
		}
		s.PeriodDays = rs.Tiers.PeriodDays
		if s.Spend, err = qualifyingSpend(ctx, tx, m.ID, now.AddDate(0, 0, -rs.Tiers.PeriodDays)); err != nil {
			return err
		}
		stored, err := storedTier(ctx, tx, m.ID)
		if err != nil {
			return err
		}
		reached, _, _ := rs.TierFor(s.Spend)
		current := rs.Tier(stored)
		if reached != nil && rs.TierRank(reached.Code) > rs.TierRank(stored) {
			current = reached
		}
		if current != nil {
			s.Tier, s.TierName = current.Code, current.Name
		}
		// The next tier above the member's, and the spend it still needs.
		rank := rs.TierRank(s.Tier)
		if rank+1 < len(rs.Tiers.Levels) {
			next := rs.Tiers.Levels[rank+1]
			s.NextTier, s.NextName, s.Needed = next.Code, next.Name, max(next.ThresholdMinor-s.Spend, 0)
		}
		return nil
	})
	return s, err
}

// ReviewTiers is the daily review of tiers: each member whose tier was not
// reviewed in the last day gets the tier the qualifying spend still
// reaches, and no higher than the one stored (a raise happens at the
// purchase). It handles up to limit members and returns how many it looked
// at and how many went down.
func (l *Ledger) ReviewTiers(ctx context.Context, limit int) (reviewed, lowered int, err error) {
	now := l.now()
	rows, err := l.tx.Pool().Query(ctx, `
		SELECT member_id FROM member_tiers WHERE reviewed_at <= $1 ORDER BY reviewed_at, member_id LIMIT $2`,
		now.Add(-20*time.Hour), limit)
	if err != nil {
		return 0, 0, fmt.Errorf("review tiers: %w", err)
	}
	members, err := pgx.CollectRows(rows, pgx.RowTo[coalition.MemberID])
	if err != nil {
		return 0, 0, fmt.Errorf("review tiers: %w", err)
	}
	for _, id := range members {
		var down bool
		err := l.tx.Write(ctx, func(tx pgx.Tx) error {
			down = false
			// The member's lock orders the review with the member's
			// accruals, which may raise the same tier.
			if _, err := findMember(ctx, tx, posts, MemberRef{ID: id}, nil, "member"); err != nil {
				return err
			}
			rs, err := l.rulesAt(ctx, tx, now)
			if err != nil {
				return err
			}
			stored, err := storedTier(ctx, tx, id)
			if err != nil {
				return err
			}
			target := ""
			if rs.Tiers != nil {
				spend, err := qualifyingSpend(ctx, tx, id, now.AddDate(0, 0, -rs.Tiers.PeriodDays))
				if err != nil {
					return err
				}
				if reached, _, _ := rs.TierFor(spend); reached != nil {
					target = reached.Code
				}
			}
			if target == stored || (target != "" && rs.TierRank(target) > rs.TierRank(stored) && rs.TierRank(stored) >= 0) {
				_, err := tx.Exec(ctx, `UPDATE member_tiers SET reviewed_at = $2 WHERE member_id = $1`, id, now)
				return err
			}
			down = true
			if target == "" {
				_, err = tx.Exec(ctx, `DELETE FROM member_tiers WHERE member_id = $1`, id)
			} else {
				_, err = tx.Exec(ctx, `UPDATE member_tiers SET tier = $2, since = $3, reviewed_at = $3 WHERE member_id = $1`, id, target, now)
			}
			return err
		})
		if errors.Is(err, context.Canceled) {
			return reviewed, lowered, err
		}
		if err != nil {
			return reviewed, lowered, fmt.Errorf("review tier of %s: %w", id, err)
		}
		reviewed++
		if down {
			lowered++
		}
	}
	return reviewed, lowered, nil
}
