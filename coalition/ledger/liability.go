package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
)

// liability is a partner's cap and its outstanding points (issued, not yet
// spent or expired): the figure of the last cleared window plus what the
// partner issued since, less what was consumed of its lots since.
type liability struct {
	limit       *coalition.Points
	outstanding coalition.Points
}

// errOutstandingUnread stops an accrual that found its partner capped
// before the partner's outstanding points were read.
var errOutstandingUnread = errors.New("the partner has a liability limit: outstanding points not read yet")

// readOutstanding reads the partner's outstanding points outside the
// posting's transaction, at READ COMMITTED and without a lock: locking the
// figure's rows would queue every posting of the partner behind each
// other. The cap is therefore soft by at most the points of accruals
// running at the same moment. The cap itself is read with the
// partner's terms, inside the posting (loadContext), so that a partner
// without one pays for nothing: Accrue reads this only for partners it has
// seen capped.
func (l *Ledger) readOutstanding(ctx context.Context, partner coalition.PartnerID) (coalition.Points, error) {
	var outstanding coalition.Points
	err := pgx.BeginTxFunc(ctx, l.tx.Pool(), pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, outstandingSQL, partner).Scan(&outstanding)
	})
	if err != nil {
		return 0, fmt.Errorf("liability of partner %s: %w", partner, err)
	}
	return outstanding, nil
}

// outstandingSQL is partner $1's outstanding points: the last cleared
// window's figure and the running figure of every business day since.
// It locks nothing; a batch reads it in its first round trip, at READ
// COMMITTED, which is the same read as readOutstanding's.
const outstandingSQL = `
	WITH last AS (SELECT max(business_date) AS day FROM clearing_reports)
	SELECT COALESCE((SELECT pl.outstanding FROM partner_liabilities AS pl, last
	                 WHERE pl.partner_id = $1 AND pl.business_date = last.day), 0)
	     + COALESCE((SELECT SUM(o.points) FROM partner_day_outstanding AS o, last
	                 WHERE o.partner_id = $1 AND (last.day IS NULL OR o.business_date > last.day)), 0)`

// allows refuses an accrual that would take the partner past its cap.
func (li liability) allows(points coalition.Points) error {
	if li.limit == nil || li.outstanding+points <= *li.limit {
		return nil
	}
	return coalition.Errorf(coalition.FailedPrecondition, "",
		"the partner has reached its liability limit: %d points outstanding of %d allowed, and this purchase would add %d; "+
			"accruals resume once issued points are spent or the partner raises its limit",
		li.outstanding, *li.limit, points)
}
