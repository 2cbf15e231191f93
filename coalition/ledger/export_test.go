package ledger

import (
	"context"

	"github.com/coalition-loyalty/coalition/coalition"
)

// AccrueTogether applies accruals as one batch of a lane, in order, as if
// they had queued together, and returns each one's answer.
func (l *Ledger) AccrueTogether(ctx context.Context, partners []coalition.PartnerID, as []Accrual) ([]AccrueResult, []error) {
	batch := make([]*accrualRequest, len(as))
	for i, a := range as {
		h, err := l.hashRef(ctx, a.Member)
		if err != nil {
			panic(err)
		}
		batch[i] = &accrualRequest{ctx: ctx, partner: partners[i], a: a, phoneHash: h, done: make(chan struct{})}
	}
	l.applyBatch(batch, func() {})
	res := make([]AccrueResult, len(as))
	errs := make([]error, len(as))
	for i, r := range batch {
		<-r.done
		res[i], errs[i] = r.res, r.err
	}
	return res, errs
}
