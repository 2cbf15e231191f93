package ledger

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Group commit. Accruals, redemptions, authorizations, captures, voids and
// refunds queue into lanes (one by default), chosen by the member they name (or the
// hold or transaction, whose member only the database knows), and each lane
// applies what queued while its previous batch was committing in one
// transaction: one set of locks, two or three round trips and
// one COMMIT for the whole batch instead of six round trips and a COMMIT
// for each request (docs/DATABASE.md, "The posting engine"). There is no
// timer: a lone request runs at once, and batches grow only when requests
// arrive faster than a transaction commits. A lane's second batch in
// flight, once as large as the first (lane.take), keeps the database busy
// while the first commits; PostgreSQL's own WAL group commit shares
// fsyncs between the transactions.

// DefaultLanes is the number of lanes when Config.Lanes is zero: one. A
// lane keeps up to two batches in flight (the next one computes and writes
// while the one before commits), which on the two-core machine of
// docs/BENCHMARKS.md keeps the database busy; a second lane halves every
// batch and so doubles the statements per posting: one lane ran accruals
// 1.2-1.7 times as fast as two in alternating runs. A larger server, or
// CockroachDB over several nodes, may want more (coalitiond --ledger-lanes).
func DefaultLanes() int { return 1 }

// DefaultBatchCap bounds a batch when Config.BatchCap is zero.
const DefaultBatchCap = 128

// batchTimeout bounds one batch's transaction, retries included. A batch
// runs on behalf of several requests, so no single request's deadline or
// cancellation may stop it; a waiter whose context ends stops waiting.
const batchTimeout = 30 * time.Second

// request is one posting waiting in a lane, and then its answer: an
// accrual, unless one of red, auth, capture, void or refund is set.
type request struct {
	ctx       context.Context
	partner   coalition.PartnerID
	a         Accrual
	red       *Redemption
	auth      *Authorization
	capture   *Capture
	void      *Void
	refund    *Refund
	phoneHash []byte

	res      AccrueResult
	burned   RedeemResult  // a redemption's answer
	held     Hold          // an authorization's or a void's answer
	captured CaptureResult // a capture's answer
	refunded RefundResult  // a refund's answer
	ranAlone bool          // the batch left it to a transaction of its own
	err      error
	done     chan struct{}
}

// member is the member the request names; a capture, void or refund names
// none (its hold's or transaction's member is found in the batch).
func (r *request) member() MemberRef {
	switch {
	case r.red != nil:
		return r.red.Member
	case r.auth != nil:
		return r.auth.Member
	case r.capture != nil, r.void != nil, r.refund != nil:
		return MemberRef{}
	}
	return r.a.Member
}

// names is the hold or transaction a capture, void or refund names.
func (r *request) names() uuid.UUID {
	switch {
	case r.capture != nil:
		return r.capture.HoldID
	case r.void != nil:
		return r.void.HoldID
	case r.refund != nil:
		return r.refund.TransactionID
	}
	return uuid.Nil
}

func (r *request) key() string {
	switch {
	case r.red != nil:
		return r.red.IdempotencyKey
	case r.auth != nil:
		return r.auth.IdempotencyKey
	case r.capture != nil:
		return r.capture.IdempotencyKey
	case r.void != nil:
		return r.void.IdempotencyKey
	case r.refund != nil:
		return r.refund.IdempotencyKey
	}
	return r.a.IdempotencyKey
}

// accrual says whether the request is an accrual.
func (r *request) accrual() bool {
	return r.red == nil && r.auth == nil && r.capture == nil && r.void == nil && r.refund == nil
}

// spends says whether the request reads the member's purse (a void only
// changes what its member holds, in a purse read for the others).
func (r *request) spends() bool {
	return r.red != nil || r.auth != nil || r.capture != nil || r.refund != nil
}

// alone runs the request in a transaction of its own.
func (l *Ledger) alone(r *request) {
	switch {
	case r.red != nil:
		r.burned, r.err = l.redeemOne(r.ctx, r.partner, *r.red, r.phoneHash)
	case r.auth != nil:
		r.held, r.err = l.authorizeOne(r.ctx, r.partner, *r.auth, r.phoneHash)
	case r.capture != nil:
		r.captured, r.err = l.captureOne(r.ctx, r.partner, *r.capture)
	case r.void != nil:
		r.held, r.err = l.voidOne(r.ctx, r.partner, *r.void)
	case r.refund != nil:
		r.refunded, r.err = l.refundOne(r.ctx, r.partner, *r.refund)
	default:
		r.res, r.err = l.accrueOne(r.ctx, r.partner, r.a, r.phoneHash)
	}
}

type lanes struct {
	seed  maphash.Seed
	cap   int
	lanes []lane
	stats struct{ batches, batched, alone, failed, readAhead atomic.Int64 }
}

// BatchStats counts the work of the lanes since the ledger started.
type BatchStats struct {
	// Batches is the transactions the lanes committed or tried; Batched the
	// postings they applied; Alone those they left to a transaction of
	// their own (refusals, replays, budgets, …); Failed the batches that
	// did not commit, whose requests all ran alone. ReadAhead counts the
	// batches that read their members' state in the round trip that locks
	// them (two round trips in all, not three).
	Batches, Batched, Alone, Failed, ReadAhead int64
}

// BatchStats reports the lanes' counters (zero when batching is off).
func (l *Ledger) BatchStats() BatchStats {
	if l.lanes == nil {
		return BatchStats{}
	}
	s := &l.lanes.stats
	return BatchStats{Batches: s.batches.Load(), Batched: s.batched.Load(), Alone: s.alone.Load(), Failed: s.failed.Load(),
		ReadAhead: s.readAhead.Load()}
}

type lane struct {
	mu sync.Mutex
	// wake is signalled when a request queues or a batch is answered: the
	// lane may then take its next batch (take).
	wake    sync.Cond
	queue   []*request
	running bool
	// flying are the sizes of the batches in flight, the oldest first:
	// two at most.
	flying []int
	// busy counts the requests in flight by the member reference they
	// name (memberKey), to see that the next batch shares a member with a
	// batch in flight.
	busy map[string]int
}

func newLanes(n, batchCap int) *lanes {
	ls := &lanes{seed: maphash.MakeSeed(), cap: batchCap, lanes: make([]lane, n)}
	for i := range ls.lanes {
		ln := &ls.lanes[i]
		ln.wake.L = &ln.mu
		ln.busy = map[string]int{}
	}
	return ls
}

// memberKey names the member a request names by card or id, or is empty
// (a phone, a QR token, a hold or a transaction).
func memberKey(r *request) string {
	if r.names() != uuid.Nil {
		return ""
	}
	ref := r.member()
	switch {
	case ref.ID != (coalition.MemberID{}):
		return "id:" + string(ref.ID[:])
	case ref.CardNumber != "":
		return "card:" + ref.CardNumber
	}
	return ""
}

// next takes the lane's next batch, up to max requests, from its queue:
// every request but those of a member in flight (by the card or id the
// request names) and those queued after one of them that name that member,
// or no member the lane can tell (a phone, a QR token), which stay queued
// in their order. A member's requests so still apply in their order of
// arrival (a capture, void or refund names a hold or transaction that an
// answer gave its client, and follows no queued request). Call with ln.mu
// held.
func (ln *lane) next(max int) []*request {
	var held map[string]bool
	var batch, kept []*request
	for i, r := range ln.queue {
		if len(batch) == max {
			kept = append(kept, ln.queue[i:]...)
			break
		}
		k := memberKey(r)
		switch {
		case k != "" && (ln.busy[k] > 0 || held[k]):
			if held == nil {
				held = map[string]bool{}
			}
			held[k] = true
			kept = append(kept, r)
		case k == "" && held != nil && r.names() == uuid.Nil:
			kept = append(kept, r)
		default:
			batch = append(batch, r)
		}
	}
	ln.queue = kept
	return batch
}

// mark counts batch's requests in flight (add 1) or answered (add -1).
// Call with ln.mu held.
func (ln *lane) mark(batch []*request, add int) {
	for _, r := range batch {
		if k := memberKey(r); k != "" {
			if ln.busy[k] += add; ln.busy[k] == 0 {
				delete(ln.busy, k)
			}
		}
	}
}

// started counts batch in flight. Call with ln.mu held.
func (ln *lane) started(batch []*request) {
	ln.mark(batch, 1)
	ln.flying = append(ln.flying, len(batch))
}

// answered counts batch out of flight, and wakes the lane, which may take
// its next batch now. Batches may be answered out of order (two of one
// size are alike here). Call with ln.mu held.
func (ln *lane) answered(batch []*request) {
	ln.mark(batch, -1)
	i := slices.Index(ln.flying, len(batch))
	ln.flying = slices.Delete(ln.flying, i, i+1)
	ln.wake.Signal()
}

// take waits for the lane's next batch and returns it, or nil once the
// lane has nothing queued and nothing in flight. With no batch in flight
// it takes what queued at once. With one in flight, it takes a second
// only once as many requests queued as the one in flight holds: a second
// batch overlaps the first's round trips and COMMIT and so keeps both the
// server and the database busy, but one that starts as soon as it can
// halves every batch, and with them the work each statement shares
// (docs/BENCHMARKS.md, "A second batch once it is as large as the
// first"). Until then requests keep queueing for a larger batch when the
// one in flight is answered. Call with ln.mu held.
func (ln *lane) take(max int) []*request {
	for {
		switch {
		case len(ln.queue) == 0 && len(ln.flying) == 0:
			return nil
		case len(ln.flying) == 0,
			len(ln.flying) == 1 && len(ln.queue) >= ln.flying[0]:
			// A member in this batch and in the one in flight would
			// wait for the other's lock, holding this batch's
			// transaction open and its size fixed: its requests stay
			// queued instead (next), for the batch after, and the others
			// go now. If every request queued is such, the lane waits
			// for the batch in flight to be answered.
			if batch := ln.next(max); len(batch) > 0 {
				return batch
			}
		}
		ln.wake.Wait()
	}
}

// laneOf keeps one member's requests in one lane, so that a batch applies
// them in their order of arrival against the member's state as the batch
// left it. A member named in two ways (card and id) may land in two lanes;
// the member's lock still orders the two batches. A capture, void or
// refund goes by the hold or transaction it names: its member is known
// only once the batch reads it, and a round trip before queueing to learn
// it would cost every such request more than the lane saves. Its member's
// lock orders it with the member's requests in other lanes the same way;
// and a client sends it only after the answer that gave it the id, so
// it never needs to follow a request still queued.
func (ls *lanes) laneOf(r *request) *lane {
	var h maphash.Hash
	h.SetSeed(ls.seed)
	ref, phoneHash := r.member(), r.phoneHash
	switch {
	case r.names() != uuid.Nil:
		id := r.names()
		h.Write(id[:])
	case ref.ID != (coalition.MemberID{}):
		h.Write(ref.ID[:])
	case ref.CardNumber != "":
		h.WriteString(ref.CardNumber)
	case phoneHash != nil:
		h.Write(phoneHash)
	default:
		h.WriteString(ref.QRToken)
	}
	return &ls.lanes[h.Sum64()%uint64(len(ls.lanes))]
}

// enqueue puts an accrual in its member's lane.
func (l *Ledger) enqueue(ctx context.Context, partner coalition.PartnerID, a Accrual, phoneHash []byte) *request {
	return l.enqueueRequest(&request{ctx: ctx, partner: partner, a: a, phoneHash: phoneHash})
}

// enqueueRequest puts a posting in its member's lane.
func (l *Ledger) enqueueRequest(r *request) *request {
	r.done = make(chan struct{})
	ln := l.lanes.laneOf(r)
	ln.mu.Lock()
	ln.queue = append(ln.queue, r)
	start := !ln.running
	ln.running = true
	ln.wake.Signal()
	ln.mu.Unlock()
	if start {
		go l.drain(ln)
	}
	return r
}

// wait returns r's answer, or r.ctx's error if it ends first. A request
// whose caller stopped waiting may still be applied, as a request whose
// answer was lost on the way back may: a retry with its idempotency key
// returns what was posted.
func (r *request) wait() (AccrueResult, error) {
	select {
	case <-r.done:
		return r.res, r.err
	case <-r.ctx.Done():
		return AccrueResult{}, r.ctx.Err()
	}
}

// drain applies a lane's queue, batch after batch, until it is empty.
func (l *Ledger) drain(ln *lane) {
	ln.mu.Lock()
	for {
		batch := ln.take(l.lanes.cap)
		if batch == nil {
			ln.running = false
			ln.mu.Unlock()
			return
		}
		ln.started(batch)
		ln.mu.Unlock()
		locked := make(chan struct{})
		go func() {
			defer func() {
				ln.mu.Lock()
				ln.answered(batch)
				ln.mu.Unlock()
			}()
			l.applyBatch(batch, sync.OnceFunc(func() { close(locked) }))
		}()
		// The next batch starts only once this one holds its locks, so
		// that two batches lock their members in the order they were
		// taken.
		<-locked
		ln.mu.Lock()
	}
}

// applyBatch answers every request of the batch, whatever happens. It
// calls locked once the batch holds its members' locks, or has given up.
func (l *Ledger) applyBatch(batch []*request, locked func()) {
	defer locked()
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // the caller has gone: nothing is posted for it
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The batch's span is the first request's child and links the others;
	// each request's own span notes the batch it went in.
	links := make([]trace.Link, 0, len(live)-1)
	for _, r := range live[1:] {
		if sc := trace.SpanContextFromContext(r.ctx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := l.tracer.Start(context.WithoutCancel(live[0].ctx), "ledger.batch",
		trace.WithLinks(links...), trace.WithAttributes(attribute.Int("coalition.batch.size", len(live))))
	defer span.End()
	for _, r := range live[1:] {
		trace.SpanFromContext(r.ctx).AddEvent("ledger.batch", trace.WithAttributes(
			attribute.String("coalition.batch.trace_id", span.SpanContext().TraceID().String()),
			attribute.String("coalition.batch.span_id", span.SpanContext().SpanID().String()),
			attribute.Int("coalition.batch.size", len(live))))
	}
	// Without the first request's deadline: the batch is everyone's.
	ctx, cancel := context.WithTimeout(ctx, batchTimeout)
	defer cancel()
	later := l.postBatch(ctx, live, locked)
	span.SetAttributes(attribute.Int("coalition.batch.alone", len(later)))
	st := &l.lanes.stats
	st.batches.Add(1)
	st.batched.Add(int64(len(live) - len(later)))
	st.alone.Add(int64(len(later)))
	for _, r := range live {
		if _, ok := later[r]; !ok {
			close(r.done)
		}
	}
	// What the batch left out runs alone, in arrival order, after the
	// batch committed: each such request was pending with the batch's, so
	// running it after them is one of the orders it could have had.
	for _, r := range live {
		if _, ok := later[r]; ok {
			r.ranAlone = true
			l.alone(r)
			close(r.done)
		}
	}
}
