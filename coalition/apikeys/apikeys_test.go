package apikeys_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/devenv/clock"
	"github.com/coalition-loyalty/coalition/coalition/devenv/pgtest"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// countingHasher is Vault's transit HMAC, in process, counting its calls.
type countingHasher struct{ calls atomic.Int64 }

func (h *countingHasher) HMAC(_ context.Context, key string, data []byte) ([]byte, error) {
	h.calls.Add(1)
	m := hmac.New(sha256.New, []byte("test-only transit key "+key))
	m.Write(data)
	return m.Sum(nil), nil
}

// Two replicas check the same key. A revocation made on one is refused on
// the other within apikeys.Recheck, without the key being hashed again:
// what is re-read is the key's row.
func TestARevokedKeyIsRefusedOnEveryReplicaWithinSeconds(t *testing.T) {
	ctx := context.Background()
	runner, err := txn.New(ctx, pgtest.NewDB(t))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC))
	hasher := &countingHasher{}
	admin := apikeys.New(apikeys.Config{Tx: runner, Hasher: hasher, Clock: clk.Now, CacheTTL: time.Minute, CacheSize: 100})
	replica := apikeys.New(apikeys.Config{Tx: runner, Hasher: hasher, Clock: clk.Now, CacheTTL: time.Minute, CacheSize: 100})
	k, secret, err := admin.Issue(ctx, nil, "finance", "accounting")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := replica.Check(ctx, secret); err != nil || got.ID != k.ID {
		t.Fatalf("check a new key = %v, %v", got, err)
	}
	hashes := hasher.calls.Load()

	if err := admin.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Check(ctx, secret); !errors.Is(err, apikeys.ErrInvalid) {
		t.Fatalf("the replica that revoked it accepts it: %v", err)
	}
	// The other replica trusts the row it read for at most Recheck.
	clk.Advance(apikeys.Recheck - time.Millisecond)
	if _, err := replica.Check(ctx, secret); err != nil {
		t.Fatalf("within Recheck the other replica still trusts the row it read: %v", err)
	}
	clk.Advance(time.Millisecond)
	if _, err := replica.Check(ctx, secret); !errors.Is(err, apikeys.ErrInvalid) {
		t.Fatalf("%s after the revocation the other replica accepts the key: %v", apikeys.Recheck, err)
	}
	if n := hasher.calls.Load(); n != hashes+1 { // the revoking replica's own first check
		t.Fatalf("Vault was asked for %d more hashes, want 1", n-hashes)
	}

	// Rotation with overlap: the old key works until the overlap ends, on
	// every replica, to the second.
	k2, old, err := admin.Issue(ctx, nil, "operator", "ops")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Check(ctx, old); err != nil {
		t.Fatal(err)
	}
	_, fresh, err := admin.Rotate(ctx, k2.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour - time.Second)
	for _, s := range []string{old, fresh} {
		if _, err := replica.Check(ctx, s); err != nil {
			t.Fatalf("during the overlap: %v", err)
		}
	}
	clk.Advance(time.Second)
	if _, err := replica.Check(ctx, old); !errors.Is(err, apikeys.ErrInvalid) {
		t.Fatalf("after the overlap the old key is accepted: %v", err)
	}
	if _, err := replica.Check(ctx, fresh); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	// A made-up key is refused, and so is one of another length or prefix.
	for _, s := range []string{"ck_" + uuid.NewString(), "not-a-key", "ck_" + string(make([]byte, 200))} {
		if _, err := replica.Check(ctx, s); !errors.Is(err, apikeys.ErrInvalid) {
			t.Fatalf("%q accepted: %v", s, err)
		}
	}
}
