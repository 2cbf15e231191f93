package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// Without an exporter a span is not recorded, yet it has the ids a log
// line carries to find it in a trace elsewhere (a client's, a proxy's).
func TestWithoutAnExporterSpansAreNotRecordedButLogsCarryTheirIDs(t *testing.T) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"} {
		t.Setenv(v, "")
	}
	tel, err := Setup(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	if tel.ExportsTraces {
		t.Fatal("exports traces without an endpoint")
	}
	ctx, span := tel.Traces.Tracer("test").Start(context.Background(), "call")
	defer span.End()
	if span.IsRecording() {
		t.Error("a span is recorded with nowhere to send it")
	}
	sc := span.SpanContext()
	if !sc.IsValid() {
		t.Fatal("the span has no trace id")
	}
	var out bytes.Buffer
	slog.New(LogHandler(slog.NewTextHandler(&out, nil))).InfoContext(ctx, "posted")
	if line := out.String(); !strings.Contains(line, "trace_id="+sc.TraceID().String()) || !strings.Contains(line, "span_id="+sc.SpanID().String()) {
		t.Errorf("log line %q lacks the span's ids", line)
	}
}
