package txn

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipeTx is a transaction whose BEGIN travels with its first statements and
// whose COMMIT may travel with its last (SendCommit), so that a body that
// sends batches of statements pays no round trip of its own for either: a
// batch of postings is three round trips, not five. A statement after an
// error is not run (PostgreSQL skips the rest of the pipeline up to its
// Sync), so a COMMIT behind a failed statement never commits.
//
// A body that starts with Exec, Query or QueryRow pays for its BEGIN
// separately, as with pgx's own transactions.
type pipeTx struct {
	conn  *pgx.Conn
	begin string // the BEGIN statement, with the isolation level
	begun bool   // BEGIN was sent
	ended bool   // COMMIT or ROLLBACK was sent
}

func beginSQL(opts pgx.TxOptions) string {
	s := "BEGIN"
	switch opts.IsoLevel {
	case pgx.Serializable:
		s += " ISOLATION LEVEL SERIALIZABLE"
	case pgx.RepeatableRead:
		s += " ISOLATION LEVEL REPEATABLE READ"
	case pgx.ReadCommitted:
		s += " ISOLATION LEVEL READ COMMITTED"
	}
	if opts.AccessMode == pgx.ReadOnly {
		s += " READ ONLY"
	}
	return s
}

// ensureBegun sends BEGIN on its own, for a body whose first statement is
// not a batch.
func (t *pipeTx) ensureBegun(ctx context.Context) error {
	if t.ended {
		return pgx.ErrTxClosed
	}
	if t.begun {
		return nil
	}
	if _, err := t.conn.Exec(ctx, t.begin); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t.begun = true
	return nil
}

// withBegin returns b, preceded by BEGIN if the transaction has not begun.
func (t *pipeTx) withBegin(b *pgx.Batch) *pgx.Batch {
	if t.begun {
		return b
	}
	t.begun = true
	nb := &pgx.Batch{}
	nb.Queue(t.begin)
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	return nb
}

func (t *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.ended {
		return closedBatch{}
	}
	return t.conn.SendBatch(ctx, t.withBegin(b))
}

// SendCommit sends b and then COMMIT in one round trip, if tx is a
// transaction of this package's runner; any other tx gets b alone and is
// committed by whoever began it.
//
// The COMMIT is sent before any of b's callbacks run, so a callback's error
// does not stop it: a body sends its last statements this way only when no
// callback decides whether the transaction may commit (a refusal the
// database must act on is written as a statement that fails, which skips
// the COMMIT). If a callback fails anyway, whether the COMMIT took is not
// known here: the error says so and is not retryable, and the caller
// answers it as it answers a lost connection at COMMIT.
func SendCommit(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	t, ok := tx.(*pipeTx)
	if !ok {
		return tx.SendBatch(ctx, b).Close()
	}
	if t.ended {
		return pgx.ErrTxClosed
	}
	nb := t.withBegin(b)
	commitRead := false
	nb.Queue("COMMIT")
	nb.QueuedQueries[len(nb.QueuedQueries)-1].Fn = func(br pgx.BatchResults) error {
		commitRead = true
		tag, err := br.Exec()
		if err == nil && tag.String() == "ROLLBACK" {
			err = pgx.ErrTxCommitRollback
		}
		return err
	}
	err := t.conn.SendBatch(ctx, nb).Close()
	if t.conn.PgConn().TxStatus() != 'I' {
		// A statement failed and PostgreSQL skipped the rest, COMMIT
		// included: the transaction is open, in error, for Rollback.
		return err
	}
	t.ended = true
	if err != nil && !commitRead {
		return fmt.Errorf("txn: outcome of COMMIT unknown after a statement's result was refused: %v", err)
	}
	return err
}

func (t *pipeTx) Commit(ctx context.Context) error {
	if t.ended {
		return pgx.ErrTxClosed
	}
	t.ended = true
	if !t.begun {
		return nil // no statement: nothing to commit
	}
	tag, err := t.conn.Exec(ctx, "COMMIT")
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

func (t *pipeTx) Rollback(ctx context.Context) error {
	if t.ended {
		return pgx.ErrTxClosed
	}
	t.ended = true
	if !t.begun || t.conn.PgConn().TxStatus() == 'I' {
		return nil
	}
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	return err
}

func (t *pipeTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("txn: nested transactions are not used")
}

func (t *pipeTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

func (t *pipeTx) LargeObjects() pgx.LargeObjects {
	panic("txn: large objects are not used")
}

func (t *pipeTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return nil, err
	}
	return t.conn.Prepare(ctx, name, sql)
}

func (t *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.conn.Exec(ctx, sql, args...)
}

func (t *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.ensureBegun(ctx); err != nil {
		return nil, err
	}
	return t.conn.Query(ctx, sql, args...)
}

func (t *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.ensureBegun(ctx); err != nil {
		return errRow{err}
	}
	return t.conn.QueryRow(ctx, sql, args...)
}

func (t *pipeTx) Conn() *pgx.Conn { return t.conn }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// closedBatch answers every result of a batch sent on an ended
// transaction with ErrTxClosed, as pgx's own transactions do.
type closedBatch struct{}

func (closedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, pgx.ErrTxClosed }
func (closedBatch) Query() (pgx.Rows, error)         { return nil, pgx.ErrTxClosed }
func (closedBatch) QueryRow() pgx.Row                { return errRow{pgx.ErrTxClosed} }
func (closedBatch) Close() error                     { return pgx.ErrTxClosed }
func (closedBatch) Tx() pgx.Tx                       { return nil }

// beginPipeFunc runs fn in a pipeTx on a connection that acquire lends, and
// commits it unless fn committed it (SendCommit) or failed; like
// pgx.BeginTxFunc, it returns fn's error or the COMMIT's.
func beginPipeFunc(ctx context.Context, acquire func(context.Context) (*pgx.Conn, func(), error), opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	conn, release, err := acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left in a transaction (a ROLLBACK that failed) is
	// closed, not reused, by the pool on release.
	defer release()
	t := &pipeTx{conn: conn, begin: beginSQL(opts)}
	defer func() {
		if !t.ended {
			_ = t.Rollback(ctx)
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if t.ended {
		return nil
	}
	return t.Commit(ctx)
}
