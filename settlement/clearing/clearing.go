package clearing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

// Config wires a Clearing.
type Config struct {
	Tx    *txn.Runner
	Clock func() time.Time // time.Now if nil
	// AfterStep, if set, runs after each step ("closed", "computed") and
	// may fail it: tests inject crashes between steps with it.
	AfterStep func(step string) error
}

// Clearing closes windows and produces their reports.
type Clearing struct {
	tx        *txn.Runner
	clock     func() time.Time
	afterStep func(string) error
}

func New(cfg Config) *Clearing {
	c := &Clearing{tx: cfg.Tx, clock: cfg.Clock, afterStep: cfg.AfterStep}
	if c.clock == nil {
		c.clock = time.Now
	}
	if c.afterStep == nil {
		c.afterStep = func(string) error { return nil }
	}
	return c
}

// Run clears the window of the given business day and returns its report's
// bytes. It is idempotent: once a window's report is stored, Run returns the
// stored bytes. A run that stopped half way (after closing, or after
// computing) is finished by the next. Replicas racing for one window agree:
// the report's primary key admits one, and the others return it.
func (c *Clearing) Run(ctx context.Context, date time.Time) ([]byte, error) {
	day := date.Format(time.DateOnly)
	if b, err := c.Stored(ctx, date); err == nil {
		return b, nil
	} else if e, ok := coalition.AsError(err); !ok || e.Code != coalition.NotFound {
		return nil, err
	}
	var earlier *time.Time
	if err := c.tx.Pool().QueryRow(ctx, `
		SELECT min(w.business_date) FROM settlement_windows AS w
		WHERE w.business_date < $1
		  AND NOT EXISTS (SELECT 1 FROM clearing_reports AS r WHERE r.business_date = w.business_date)`, day).Scan(&earlier); err != nil {
		return nil, fmt.Errorf("clear %s: earlier windows: %w", day, err)
	}
	if earlier != nil {
		return nil, coalition.Errorf(coalition.FailedPrecondition, "window",
			"window %s is not cleared yet: windows clear in order", earlier.Format(time.DateOnly))
	}
	hlc, err := c.close(ctx, date)
	if err != nil {
		return nil, err
	}
	if err := c.drain(ctx, date); err != nil {
		return nil, err
	}
	if err := c.afterStep("closed"); err != nil {
		return nil, err
	}
	r, err := c.compute(ctx, date, hlc)
	if err != nil {
		return nil, err
	}
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	body = append(body, '\n')
	if err := c.afterStep("computed"); err != nil {
		return nil, err
	}
	return c.store(ctx, date, r, body)
}

// Stored returns a cleared window's report bytes.
func (c *Clearing) Stored(ctx context.Context, date time.Time) ([]byte, error) {
	var b []byte
	err := c.tx.Pool().QueryRow(ctx, `SELECT report FROM clearing_reports WHERE business_date = $1`, date.Format(time.DateOnly)).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, coalition.Errorf(coalition.NotFound, "business_date", "window %s has no report", date.Format(time.DateOnly))
	}
	if err != nil {
		return nil, fmt.Errorf("report of %s: %w", date.Format(time.DateOnly), err)
	}
	return b, nil
}

// Decode parses stored report bytes.
func Decode(b []byte) (Report, error) {
	var r Report
	err := json.Unmarshal(b, &r)
	return r, err
}

// close closes the window if it is open and opens the next business day (or
// today, if clearing runs late) in the same transaction, so that a posting
// either lands in the window before it closes or in the next one. It returns
// the closing transaction's commit timestamp on CockroachDB.
func (c *Clearing) close(ctx context.Context, date time.Time) (string, error) {
	day := date.Format(time.DateOnly)
	var hlc string
	err := c.tx.Run(ctx, func(tx pgx.Tx) error {
		var status string
		var closed *string
		var zone string
		err := tx.QueryRow(ctx, `
			SELECT w.status, w.closed_hlc, s.time_zone
			FROM settlement_windows AS w, coalition_settings AS s
			WHERE w.business_date = $1 AND s.id = 1`, day).Scan(&status, &closed, &zone)
		if errors.Is(err, pgx.ErrNoRows) {
			return coalition.Errorf(coalition.NotFound, "window", "no settlement window %s", day)
		}
		if err != nil {
			return fmt.Errorf("close %s: %w", day, err)
		}
		if closed != nil {
			hlc = *closed
		}
		if status == "closed" {
			return nil
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return fmt.Errorf("close %s: time zone: %w", day, err)
		}
		now := c.clock().UTC().Truncate(time.Microsecond)
		next := date.AddDate(0, 0, 1).Format(time.DateOnly)
		if today := now.In(loc).Format(time.DateOnly); today > next {
			next = today
		}
		var stamp *string
		if c.tx.CockroachDB() {
			var s string
			if err := tx.QueryRow(ctx, `SELECT cluster_logical_timestamp()::STRING`).Scan(&s); err != nil {
				return fmt.Errorf("close %s: commit timestamp: %w", day, err)
			}
			stamp, hlc = &s, s
		}
		if _, err := tx.Exec(ctx, `
			UPDATE settlement_windows SET status = 'closed', closed_at = $2, closed_hlc = $3
			WHERE business_date = $1`, day, now, stamp); err != nil {
			return fmt.Errorf("close %s: %w", day, err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO settlement_windows (business_date, status, opened_at) VALUES ($1, 'open', $2)`, next, now); err != nil {
			return fmt.Errorf("close %s: open %s: %w", day, next, err)
		}
		return nil
	})
	return hlc, err
}

// drain waits until every posting that found the window open has ended.
// A posting holds the open window in share mode (FOR KEY SHARE) from the
// moment it reads it until it commits or rolls back, and closing the window
// on PostgreSQL (an update of a non-key column) does not wait for those
// holders; this FOR UPDATE does. Postings that start after the close find
// the next window open, so none can join the ones drained: after drain, no
// posting can ever land in the window. On CockroachDB the close's own write
// already waited for them; the drain returns at once.
func (c *Clearing) drain(ctx context.Context, date time.Time) error {
	day := date.Format(time.DateOnly)
	err := c.tx.Write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT business_date FROM settlement_windows WHERE business_date = $1 FOR UPDATE`, day)
		return err
	})
	if err != nil {
		return fmt.Errorf("clear %s: wait for postings in flight: %w", day, err)
	}
	return nil
}

var hlcPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// read runs fn in a read-only transaction that sees the closed window as it
// was when it closed, without slowing live postings. On CockroachDB it reads
// AS OF SYSTEM TIME the close's commit timestamp: a historical read, which
// takes no locks and is never pushed by live postings. On PostgreSQL it is a
// SERIALIZABLE READ ONLY DEFERRABLE transaction: it waits for a snapshot that
// needs no predicate locks, so it can neither fail with nor cause a
// serialization failure.
func (c *Clearing) read(ctx context.Context, hlc string, fn func(pgx.Tx) error) error {
	if c.tx.CockroachDB() && hlcPattern.MatchString(hlc) {
		return pgx.BeginTxFunc(ctx, c.tx.Pool(), pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET TRANSACTION AS OF SYSTEM TIME '`+hlc+`'`); err != nil {
				return err
			}
			return fn(tx)
		})
	}
	return pgx.BeginTxFunc(ctx, c.tx.Pool(), pgx.TxOptions{
		IsoLevel: pgx.Serializable, AccessMode: pgx.ReadOnly, DeferrableMode: pgx.Deferrable,
	}, func(tx pgx.Tx) error {
		// A whole window is read: sequential scans are the right plan
		// where they win (see txn.PoolConfig).
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = on`); err != nil {
			return err
		}
		return fn(tx)
	})
}

// store saves the report and the partners' liabilities unless another run
// saved them first, and returns the stored bytes. If those differ from what
// this run computed, something is badly wrong: the ledger of a closed
// window changed.
func (c *Clearing) store(ctx context.Context, date time.Time, r Report, body []byte) ([]byte, error) {
	day := date.Format(time.DateOnly)
	sum := sha256.Sum256(body)
	var stored []byte
	err := c.tx.Run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO clearing_reports (business_date, report, sha256, cleared_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (business_date) DO NOTHING`, day, body, sum[:], c.clock().UTC())
		if err != nil {
			return fmt.Errorf("store report %s: %w", day, err)
		}
		if tag.RowsAffected() == 1 {
			b := &pgx.Batch{}
			for _, l := range r.Liabilities {
				b.Queue(`
					INSERT INTO partner_liabilities (business_date, partner_id, outstanding)
					SELECT $1, id, $3 FROM partners WHERE code = $2`, day, l.Partner, l.Outstanding)
			}
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return fmt.Errorf("store liabilities %s: %w", day, err)
			}
			stored = body
			return nil
		}
		return tx.QueryRow(ctx, `SELECT report FROM clearing_reports WHERE business_date = $1`, day).Scan(&stored)
	})
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(stored, body) {
		return nil, fmt.Errorf("clear %s: the stored report differs from a recomputation: the ledger of a closed window changed", day)
	}
	return stored, nil
}
