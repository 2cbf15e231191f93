package telemetry

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// PgxTracer makes a span for every query and batch, with the statement's
// first words (never its arguments, which may hold personal data).
type PgxTracer struct{ T trace.Tracer }

var (
	_ pgx.QueryTracer = PgxTracer{}
	_ pgx.BatchTracer = PgxTracer{}
)

// spanNames keeps each statement's span name and shortened text: the
// statements are the code's constants, so the set is small, and the cap
// keeps it small whatever a caller sends.
var (
	spanNames   sync.Map // SQL → [2]string{operation, statement}
	spanNamesN  atomic.Int64
	maxSpanName = int64(4096)
)

func names(sql string) (string, string) {
	if v, ok := spanNames.Load(sql); ok {
		n := v.([2]string)
		return n[0], n[1]
	}
	op, st := operation(sql), statement(sql)
	if spanNamesN.Add(1) <= maxSpanName {
		spanNames.Store(sql, [2]string{op, st})
	}
	return op, st
}

func operation(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return "db"
	}
	op := strings.ToUpper(f[0])
	if len(f) > 2 && (op == "INSERT" || op == "DELETE") || len(f) > 1 && op == "UPDATE" {
		return op + " " + strings.Join(f[1:min(3, len(f))], " ")
	}
	return op
}

func statement(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (p PgxTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	op, st := names(d.SQL)
	ctx, _ = p.T.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", "postgresql"), attribute.String("db.statement", st)))
	return ctx
}

func (p PgxTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	end(ctx, d.Err)
}

func (p PgxTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	ctx, _ = p.T.Start(ctx, "batch", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", "postgresql"), attribute.Int("db.batch.size", d.Batch.Len())))
	return ctx
}

func (p PgxTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (p PgxTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	end(ctx, d.Err)
}

// end closes the span; a failure is recorded by its SQLSTATE only, since
// PostgreSQL's messages may quote the values of a row.
func end(ctx context.Context, err error) {
	span := trace.SpanFromContext(ctx)
	if err != nil {
		code := "client"
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			code = pgErr.Code
		}
		span.SetAttributes(attribute.String("db.sqlstate", code))
		span.SetStatus(codes.Error, "query failed: "+code)
	}
	span.End()
}
