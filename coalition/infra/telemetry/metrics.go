package telemetry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics are the coalition's own instruments, beside the RPC metrics of
// the gRPC instrumentation.
type Metrics struct {
	HoldsExpired     metric.Int64Counter
	ClearingDuration metric.Float64Histogram
	ClearingLines    metric.Int64Counter
	VaultErrors      metric.Int64Counter
}

// NewMetrics creates the instruments; retries reports the count of ledger
// transactions run again after a serialization failure (txn.Runner.Retries).
func NewMetrics(mp metric.MeterProvider, retries func() int64) (*Metrics, error) {
	m := mp.Meter("github.com/coalition-loyalty/coalition")
	var out Metrics
	var err error
	if out.HoldsExpired, err = m.Int64Counter("coalition.holds.expired", metric.WithDescription("Holds released because their TTL passed")); err != nil {
		return nil, err
	}
	if out.ClearingDuration, err = m.Float64Histogram("coalition.clearing.duration", metric.WithUnit("s"), metric.WithDescription("Time to clear one settlement window")); err != nil {
		return nil, err
	}
	if out.ClearingLines, err = m.Int64Counter("coalition.clearing.lines", metric.WithDescription("Report lines produced by clearing")); err != nil {
		return nil, err
	}
	if out.VaultErrors, err = m.Int64Counter("coalition.vault.errors", metric.WithDescription("Failed calls to Vault, by operation")); err != nil {
		return nil, err
	}
	_, err = m.Int64ObservableCounter("coalition.ledger.transaction_retries",
		metric.WithDescription("Ledger transactions run again after a serialization failure"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(retries())
			return nil
		}))
	if err != nil {
		return nil, fmt.Errorf("retries metric: %w", err)
	}
	return &out, nil
}

// BatchCounts is what the ledger's group-commit lanes did so far.
type BatchCounts struct{ Batches, Batched, Alone, Failed, ReadAhead int64 }

// ObserveBatches reports the lanes' counters: coalition.ledger.batches (by
// outcome: committed or failed, whose requests all ran alone) and
// coalition.ledger.postings (accruals, redemptions and holds through the lanes,
// by path: batched, or alone in a transaction of their own) and
// coalition.ledger.batches_read_ahead (batches that read their members'
// state in the round trip that locks them: two round trips, not three).
func ObserveBatches(mp metric.MeterProvider, read func() BatchCounts) error {
	m := mp.Meter("github.com/coalition-loyalty/coalition")
	batches, err := m.Int64ObservableCounter("coalition.ledger.batches",
		metric.WithDescription("Group-commit transactions of the accrual lanes"))
	if err != nil {
		return fmt.Errorf("batches metric: %w", err)
	}
	postings, err := m.Int64ObservableCounter("coalition.ledger.postings",
		metric.WithDescription("Accruals, redemptions and holds through the lanes, applied in a batch or alone"))
	if err != nil {
		return fmt.Errorf("postings metric: %w", err)
	}
	readAhead, err := m.Int64ObservableCounter("coalition.ledger.batches_read_ahead",
		metric.WithDescription("Group-commit transactions that read their members' state with their locks"))
	if err != nil {
		return fmt.Errorf("batches read ahead metric: %w", err)
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := read()
		o.ObserveInt64(readAhead, c.ReadAhead)
		o.ObserveInt64(batches, c.Batches-c.Failed, metric.WithAttributes(attribute.String("outcome", "committed")))
		o.ObserveInt64(batches, c.Failed, metric.WithAttributes(attribute.String("outcome", "failed")))
		o.ObserveInt64(postings, c.Batched, metric.WithAttributes(attribute.String("path", "batched")))
		o.ObserveInt64(postings, c.Alone, metric.WithAttributes(attribute.String("path", "alone")))
		return nil
	}, batches, postings, readAhead)
	return err
}
