package rpc_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/telemetry"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/gateway/server"
	"github.com/coalition-loyalty/coalition/gateway/server/servertest"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestAnAccrualLeavesATraceAndMetrics serves the API with the same
// instrumentation as coalitiond, into an in-memory span recorder and metric
// reader, and checks what an operator would look for after one Accrue: a
// server span for the RPC with the database queries as its children, the
// RPC's latency by method and code, and the ledger's retry counter.
func TestAnAccrualLeavesATraceAndMetrics(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	// The server opens its own pool, so that database spans are traced as
	// in production.
	srv := servertest.Start(t, server.Config{
		DatabaseURL:  pgtest.NewURL(t),
		DevAuth:      true,
		PhoneHashKey: servertest.PhoneHashKey,
		Settings:     ledger.Settings{Name: "T", Currency: "RUB", TimeZone: "Europe/Moscow", PointValueMinor: 100},
		Telemetry:    &telemetry.Telemetry{Traces: tp, ExportsTraces: true, Meters: mp},
	})
	if _, err := srv.Partners().Add(ctx, partners.Partner{Code: "cafe", Name: "cafe", Kind: "cafe", EarnRateBP: 500, PointsTTLDays: 365}); err != nil {
		t.Fatal(err)
	}
	conn, _ := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	t.Cleanup(func() { conn.Close() })
	client := pb.NewPartnerServiceClient(conn)
	call := metadata.AppendToOutgoingContext(ctx, "authorization", "Dev cafe")
	m, err := client.EnrollMember(call, &pb.EnrollMemberRequest{IdempotencyKey: "e"})
	if err != nil {
		t.Fatal(err)
	}
	// The ledger's first batch reads the partners that fund its lines,
	// once, into a cache, and learns what the rules need of a member.
	if _, err := client.Accrue(call, &pb.AccrueRequest{IdempotencyKey: "a", Member: byID(m.Member), Purchase: rub(50_000), OrderId: "1"}); err != nil {
		t.Fatal(err)
	}
	spans.Reset()
	if _, err := client.Accrue(call, &pb.AccrueRequest{IdempotencyKey: "b", Member: byID(m.Member), Purchase: rub(100_000), OrderId: "2"}); err != nil {
		t.Fatal(err)
	}

	// The server ends its span after the response is on the wire, so the
	// client can read the response before the span is recorded: stop the
	// server, which waits for the handler (and its span) to finish.
	srv.Stop()
	var serverSpan sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "coalition.v1.PartnerService/Accrue" {
			serverSpan = s
		}
	}
	if serverSpan == nil {
		t.Fatalf("no server span for Accrue among %d spans", len(spans.Ended()))
	}
	// The accrual went through a lane: its batch's span is the request's
	// child, and the batch's statements are the batch's children.
	var batch sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "ledger.batch" && s.Parent().SpanID() == serverSpan.SpanContext().SpanID() {
			batch = s
		}
	}
	if batch == nil {
		t.Fatal("no ledger.batch span under the Accrue span")
	}
	var queries []string
	for _, s := range spans.Ended() {
		if s.Parent().SpanID() == batch.SpanContext().SpanID() && s.SpanContext().TraceID() == serverSpan.SpanContext().TraceID() {
			queries = append(queries, s.Name())
		}
	}
	// Two round trips, BEGIN sent with the first (the locks and every
	// read) and COMMIT with the second (the writes).
	joined := strings.Join(queries, ", ")
	if strings.Count(joined, "batch") != 2 || len(queries) != 2 {
		t.Fatalf("the batch span's children are %q; want its transaction's two round trips", joined)
	}
	for _, s := range spans.Ended() {
		for _, a := range s.Attributes() {
			if a.Key == "db.statement" && strings.Contains(a.Value.AsString(), "100000") {
				t.Fatalf("a span carries a query's values: %s", a.Value.AsString())
			}
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, metric := range sm.Metrics {
			found[metric.Name] = true
			if strings.HasPrefix(metric.Name, "rpc.server.") && strings.Contains(metric.Name, "duration") {
				h := metric.Data.(metricdata.Histogram[float64])
				for _, dp := range h.DataPoints {
					method, _ := dp.Attributes.Value(attribute.Key("rpc.method"))
					code, _ := dp.Attributes.Value(attribute.Key("rpc.response.status_code"))
					if method.AsString() == "coalition.v1.PartnerService/Accrue" && code.AsString() == "OK" {
						found["rpc latency of Accrue"] = true
					}
				}
			}
		}
	}
	for _, want := range []string{"rpc latency of Accrue", "coalition.ledger.transaction_retries"} {
		if !found[want] {
			t.Errorf("no %s among the metrics %v", want, found)
		}
	}
}
