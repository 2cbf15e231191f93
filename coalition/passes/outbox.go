package passes

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/wallet/apns"
	"github.com/coalition-loyalty/coalition/coalition/wallet/googlewallet"
)

// Kind is what an outbox event announces.
type Kind string

const (
	KindEarned    Kind = "earned"
	KindSpent     Kind = "spent"
	KindExpiring  Kind = "expiring"
	KindPromotion Kind = "promotion"
	// KindRefresh brings the pass up to date without a message.
	KindRefresh Kind = "refresh"
)

// Event is one change to push to a member's pass.
type Event struct {
	// ID makes the event once: a second insert of the same id is nothing,
	// and Google shows one message per id however often it is delivered.
	ID      uuid.UUID
	Member  coalition.MemberID
	Kind    Kind
	Message string // e.g. "+75 points at Coffee Corner"; empty for a refresh
	At      time.Time
}

// InsertOutboxSQL writes events to the pass outbox in the writer's own
// transaction, so that an event exists exactly when its change committed.
// It takes five arrays of equal length, one element per event:
//
//	$1 event ids (uuid[]): the ledger transaction's id for an earn or a
//	   spend, so that a replayed posting writes nothing twice
//	$2 member ids (uuid[])
//	$3 kinds (text[]): 'earned', 'spent', 'expiring', 'promotion' or 'refresh'
//	$4 messages (text[]): what the pass says, e.g. EarnedMessage(75, "Coffee Corner")
//	$5 times (timestamptz[]): when the change was made
//
// Only members who have a pass get rows (the join with wallet_passes), and
// an id already in the outbox is skipped. One statement, set-based: a
// posting can queue it in its batch with pgx.Batch.Queue(InsertOutboxSQL,
// ids, members, kinds, messages, times).
const InsertOutboxSQL = `
	INSERT INTO pass_outbox (event_id, member_id, kind, message, created_at, next_attempt_at)
	SELECT e.event_id, member_id, e.kind, e.message, e.created_at, e.created_at
	FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])
	     AS e(event_id, member_id, kind, message, created_at)
	JOIN wallet_passes USING (member_id)
	ON CONFLICT (event_id) DO NOTHING`

// EarnedMessage and SpentMessage are the messages of a posting's event.
func EarnedMessage(points coalition.Points, partner string) string {
	return fmt.Sprintf("+%d points at %s", points, partner)
}

func SpentMessage(points coalition.Points, partner string) string {
	return fmt.Sprintf("%d points spent at %s", points, partner)
}

// Enqueue writes events to the outbox in tx (see InsertOutboxSQL) and
// returns how many were new and for members with a pass.
func Enqueue(ctx context.Context, tx pgx.Tx, events []Event) (int64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	ids := make([]uuid.UUID, len(events))
	members := make([]uuid.UUID, len(events))
	kinds := make([]string, len(events))
	messages := make([]string, len(events))
	times := make([]time.Time, len(events))
	for i, e := range events {
		ids[i], members[i], kinds[i], messages[i], times[i] = e.ID, uuid.UUID(e.Member), string(e.Kind), e.Message, e.At.UTC()
	}
	tag, err := tx.Exec(ctx, InsertOutboxSQL, ids, members, kinds, messages, times)
	if err != nil {
		return 0, fmt.Errorf("enqueue pass events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Deliver claims up to limit due events and delivers each: the pass is
// marked updated, the devices that hold it are woken, the Google object is
// patched and given the event's message (whose id is the event's, so a
// second delivery shows it once), then the event is marked delivered. A
// failed event is tried again after a pause that doubles with each
// attempt, up to the cap. It returns how many it delivered. A claim lasts
// a lease: an event whose worker died is taken by another once it ends.
func (s *Service) Deliver(ctx context.Context, limit int) (int, error) {
	// No more than can be sent within the lease, each event taking at
	// most its timeout: a claim that outlived its lease would be taken by
	// another worker and sent twice.
	limit = max(1, min(limit, int(s.cfg.Lease/s.eventTimeout())-1))
	now := s.now()
	rows, err := s.cfg.Tx.Pool().Query(ctx, `
		UPDATE pass_outbox SET next_attempt_at = $2, attempts = attempts + 1
		WHERE event_id IN (
		        SELECT event_id FROM pass_outbox
		        WHERE delivered_at IS NULL AND next_attempt_at <= $1
		        ORDER BY next_attempt_at
		        LIMIT $3)
		  AND delivered_at IS NULL AND next_attempt_at <= $1
		RETURNING event_id, member_id, kind, message, created_at, attempts`, now, now.Add(s.cfg.Lease), limit)
	if err != nil {
		return 0, fmt.Errorf("claim pass events: %w", err)
	}
	type claimed struct {
		Event
		attempts int
	}
	batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := r.Scan(&c.ID, &c.Member, &c.Kind, &c.Message, &c.At, &c.attempts)
		return c, err
	})
	if err != nil {
		return 0, fmt.Errorf("claim pass events: %w", err)
	}
	// In the order they were made, so that a member's pass ends with the
	// latest message.
	slices.SortStableFunc(batch, func(a, b claimed) int { return a.At.Compare(b.At) })
	delivered := 0
	for _, c := range batch {
		if err := ctx.Err(); err != nil {
			return delivered, err
		}
		err := s.deliver(ctx, c.Event)
		if errors.Is(err, errStop) {
			return delivered, err
		}
		if err != nil {
			if ctx.Err() != nil {
				// Stopping: the lease hands the event to the next worker.
				return delivered, ctx.Err()
			}
			s.backOff(ctx, c.Event, c.attempts, err)
			continue
		}
		if _, err := s.cfg.Tx.Pool().Exec(ctx, `
			UPDATE pass_outbox SET delivered_at = $2, last_error = '' WHERE event_id = $1`, c.ID, s.now()); err != nil {
			return delivered, fmt.Errorf("mark pass event %s delivered: %w", c.ID, err)
		}
		delivered++
	}
	return delivered, nil
}

// eventTimeout bounds the sending of one event.
func (s *Service) eventTimeout() time.Duration { return min(s.cfg.Lease/2, time.Minute) }

// errStop is the BeforeMark hook's way to stop the worker.
var errStop = errors.New("passes: worker stopped before marking")

func (s *Service) backOff(ctx context.Context, e Event, attempts int, cause error) {
	pause := s.cfg.BackoffBase
	for i := 1; i < attempts && pause < s.cfg.BackoffCap; i++ {
		pause *= 2
	}
	pause = min(pause, s.cfg.BackoffCap)
	msg := cause.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	s.cfg.Log.WarnContext(ctx, "pass update failed; will retry", "event", e.ID, "kind", e.Kind, "attempts", attempts,
		"retry_in", pause.String(), "error", msg)
	if _, err := s.cfg.Tx.Pool().Exec(ctx, `
		UPDATE pass_outbox SET next_attempt_at = $2, last_error = $3 WHERE event_id = $1 AND delivered_at IS NULL`,
		e.ID, s.now().Add(pause), msg); err != nil {
		// The lease ends anyway: the event is tried again then.
		s.cfg.Log.ErrorContext(ctx, "record pass update failure", "event", e.ID, "error", err)
	}
}

// deliver sends one event; it may run more than once for the same event.
func (s *Service) deliver(ctx context.Context, e Event) error {
	ctx, cancel := context.WithTimeout(ctx, s.eventTimeout())
	defer cancel()
	notify, err := s.Notifications(ctx, e.Member)
	if err != nil {
		return err
	}
	// What the pass announces: a posting's message comes with the new
	// balance; a notice that changes no number is the pass's news. A
	// refresh, or a member who turned messages off, announces nothing new.
	change, news := "", ""
	switch {
	case !notify || e.Kind == KindRefresh:
	case e.Kind == KindEarned || e.Kind == KindSpent:
		change = e.Message
	default:
		news = e.Message
	}
	// Marked updated first: a device woken below must find the new tag.
	var serial string
	err = s.cfg.Tx.Pool().QueryRow(ctx, `
		UPDATE wallet_passes
		SET updated_at = GREATEST($2::TIMESTAMPTZ, updated_at + INTERVAL '1 second'),
		    last_change = $3, news = CASE WHEN $4::TEXT = '' THEN news ELSE $4::TEXT END
		WHERE member_id = $1
		RETURNING serial_number`, e.Member, s.now().Truncate(time.Second), change, news).Scan(&serial)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // no pass (an event written before its pass was withdrawn): nothing to update
	}
	if err != nil {
		return fmt.Errorf("mark pass updated: %w", err)
	}
	if err := s.pushApple(ctx, serial); err != nil {
		return err
	}
	if err := s.updateGoogle(ctx, e, notify && e.Kind != KindRefresh && e.Message != ""); err != nil {
		return err
	}
	if s.cfg.BeforeMark != nil {
		if err := s.cfg.BeforeMark(ctx, e); err != nil {
			return fmt.Errorf("%w: %w", errStop, err)
		}
	}
	return nil
}

// pushApple wakes every device registered for the pass. A device whose
// token APNs no longer knows is unregistered; one APNs refuses for good is
// skipped; a failure worth retrying fails the event.
func (s *Service) pushApple(ctx context.Context, serial string) error {
	a := s.cfg.Apple
	if a == nil {
		return nil
	}
	rows, err := s.cfg.Tx.Pool().Query(ctx, `
		SELECT device_library_id, push_token FROM wallet_registrations
		WHERE serial_number = $1 AND pass_type_id = $2
		ORDER BY device_library_id`, serial, a.PassTypeIdentifier)
	if err != nil {
		return fmt.Errorf("devices of pass %s: %w", serial, err)
	}
	type device struct{ id, token string }
	devices, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (device, error) {
		var d device
		err := r.Scan(&d.id, &d.token)
		return d, err
	})
	if err != nil {
		return fmt.Errorf("devices of pass %s: %w", serial, err)
	}
	if len(devices) > 0 && a.Push == nil {
		s.cfg.Log.InfoContext(ctx, "no APNs key configured: pass update not pushed", "serial", serial, "devices", len(devices))
		return nil
	}
	for _, d := range devices {
		err := a.Push.NotifyPassUpdated(ctx, d.token)
		var gone *apns.UnregisteredError
		var rejected *apns.RejectedError
		switch {
		case err == nil:
		case errors.As(err, &gone):
			if _, err := s.cfg.Tx.Pool().Exec(ctx, `
				DELETE FROM wallet_registrations
				WHERE device_library_id = $1 AND pass_type_id = $2 AND serial_number = $3 AND push_token = $4`,
				d.id, a.PassTypeIdentifier, serial, d.token); err != nil {
				return fmt.Errorf("unregister a gone device: %w", err)
			}
			s.cfg.Log.InfoContext(ctx, "APNs no longer knows a device: unregistered it", "serial", serial, "reason", gone.Reason)
		case errors.As(err, &rejected):
			s.cfg.Log.WarnContext(ctx, "APNs refused a pass update", "serial", serial, "status", rejected.Status, "reason", rejected.Reason)
		default:
			return fmt.Errorf("push pass update: %w", err)
		}
	}
	return nil
}

// updateGoogle patches the member's object with the card as it is now and,
// with message, adds the event's message under the event's id. A member
// who never opened the save link has no object: nothing to do.
func (s *Service) updateGoogle(ctx context.Context, e Event, message bool) error {
	g := s.cfg.Google
	if g == nil || g.API == nil {
		return nil
	}
	obj, err := s.object(ctx, e.Member)
	if err != nil {
		return err
	}
	if _, err := g.API.PatchObject(ctx, obj); googlewallet.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	if !message {
		return nil
	}
	_, err = g.API.AddMessage(ctx, obj.ID, googlewallet.Message{
		ID: e.ID.String(), Header: s.cfg.Branding.Name, Body: e.Message, MessageType: googlewallet.MessageTypeTextAndNotify,
	})
	var apiErr *googlewallet.APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		return nil // added by an earlier delivery
	}
	return err
}

// expiringNamespace derives the ids of expiring-points events.
var expiringNamespace = uuid.MustParse("6f3c1f2e-4b0a-5d7e-9c1a-7e5b2d9f0a41")

// EnqueueExpiring writes an "expiring" event for every member with a pass
// whose points expire within the next within, once a day: the event's id
// is derived from the member and the day (in the coalition's time zone),
// so that running it again the same day writes nothing. It returns how
// many events it wrote.
func (s *Service) EnqueueExpiring(ctx context.Context, within time.Duration, limit int) (int64, error) {
	now := s.now()
	day := now.In(s.cfg.Zone).Format(time.DateOnly)
	var written int64
	var after coalition.MemberID // the zero id sorts first
	for {
		rows, err := s.cfg.Tx.Pool().Query(ctx, `
			SELECT p.member_id, SUM(l.remaining), MAX(l.expires_at)
			FROM wallet_passes AS p
			JOIN lots AS l ON l.member_id = p.member_id AND l.is_open AND l.expires_at > $1 AND l.expires_at <= $2
			WHERE p.member_id > $3
			GROUP BY p.member_id
			ORDER BY p.member_id
			LIMIT $4`, now, now.Add(within), after, limit)
		if err != nil {
			return written, fmt.Errorf("members with expiring points: %w", err)
		}
		var events []Event
		var member coalition.MemberID
		var points coalition.Points
		var by time.Time
		if _, err := pgx.ForEachRow(rows, []any{&member, &points, &by}, func() error {
			events = append(events, Event{
				ID:     uuid.NewSHA1(expiringNamespace, []byte(member.String()+"/"+day)),
				Member: member, Kind: KindExpiring, At: now,
				Message: fmt.Sprintf("%d points expire by %s", points, by.In(s.cfg.Zone).Format("2 Jan 2006")),
			})
			after = member
			return nil
		}); err != nil {
			return written, fmt.Errorf("members with expiring points: %w", err)
		}
		if len(events) == 0 {
			return written, nil
		}
		var n int64
		err = s.cfg.Tx.Write(ctx, func(tx pgx.Tx) (err error) {
			n, err = Enqueue(ctx, tx, events)
			return err
		})
		if err != nil {
			return written, err
		}
		written += n
		if len(events) < limit {
			return written, nil
		}
	}
}

// PurgeDelivered deletes up to limit events delivered before the cutoff,
// and returns how many.
func (s *Service) PurgeDelivered(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.cfg.Tx.Pool().Exec(ctx, `
		DELETE FROM pass_outbox WHERE event_id IN (
		    SELECT event_id FROM pass_outbox
		    WHERE delivered_at IS NOT NULL AND delivered_at < $1
		    ORDER BY delivered_at LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("purge delivered pass events: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Retention is how long delivered pass updates are kept.
const Retention = 30 * 24 * time.Hour

// jobBatch bounds what one step of the periodic work takes on.
const jobBatch = 100

// DeliverDue delivers every due event, a batch at a time; the server runs
// it every few seconds. Failures are logged, and tried again later.
func (s *Service) DeliverDue(ctx context.Context) {
	for {
		n, err := s.Deliver(ctx, jobBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.ErrorContext(ctx, "deliver pass updates", "error", err)
			}
			return
		}
		if n < jobBatch {
			return
		}
	}
}

// Daily is the passes' share of the daily job, run often so that a replica
// that restarts catches up: promotions that have begun are announced to
// the members they are for (once each), personal offers that began,
// ended or changed whom they target are put on or taken off the passes
// (SyncOffers), members with points expiring
// within the horizon are told on their pass (once a day each), and
// delivered updates older than Retention are deleted.
func (s *Service) Daily(ctx context.Context, within time.Duration) {
	if s.cfg.Rules != nil {
		rs, err := s.cfg.Rules.Current(ctx)
		if err == nil {
			var n int64
			if n, err = s.EnqueuePromotions(ctx, rs, 1000); n > 0 {
				s.cfg.Log.InfoContext(ctx, "announced new promotions on the passes", "members", n)
			}
		}
		if err != nil && ctx.Err() == nil {
			s.cfg.Log.ErrorContext(ctx, "announce new promotions on the passes", "error", err)
		}
	}
	if a, w, err := s.SyncOffers(ctx, 1000); err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.ErrorContext(ctx, "bring personal offers to the passes", "error", err)
		}
	} else if a+w > 0 {
		s.cfg.Log.InfoContext(ctx, "brought personal offers to the passes", "announced", a, "withdrawn", w)
	}
	if n, err := s.EnqueueExpiring(ctx, within, 1000); err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.ErrorContext(ctx, "tell members of expiring points on their passes", "error", err)
		}
	} else if n > 0 {
		s.cfg.Log.InfoContext(ctx, "told members of expiring points on their passes", "members", n)
	}
	for {
		n, err := s.PurgeDelivered(ctx, s.now().Add(-Retention), 1000)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Log.ErrorContext(ctx, "purge delivered pass updates", "error", err)
			}
			return
		}
		if n < 1000 {
			return
		}
	}
}
