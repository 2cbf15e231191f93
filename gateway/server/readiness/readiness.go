// Package readiness decides whether a replica should take traffic, and says
// why, dependency by dependency. The database must answer: a periodic
// check pings it, and requests tell the checker at once when they could
// not reach it or it answered them again. Vault may be
// away for a while — the replica serves on what it took from Vault — but
// not once those credentials can no longer be trusted: the server
// certificate about to expire, the Vault token expired, or the revocation
// list too old to refuse a certificate revoked since.
package readiness

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// States of a dependency or a credential.
const (
	OK       = "ok"       // answers; nothing to say
	Degraded = "degraded" // fails, but the replica can still serve
	Down     = "down"     // the replica cannot serve
)

// Vault is what the checker knows of Vault and the credentials from it.
type Vault struct {
	// Check asks Vault whether it is up and the token good, and returns the
	// token's time left (zero: it does not expire).
	Check func(context.Context) (time.Duration, error)
	// CertExpiry is when the server's current certificate expires.
	CertExpiry func() time.Time
	// CertMargin: the replica is unready this long before its certificate
	// expires (renewal happens a third of its life before; reaching the
	// margin means renewal has failed for that long), so it leaves the load
	// balancer before clients' handshakes fail.
	CertMargin time.Duration
	// CRL records when the revocation list was last read.
	CRL *Stamp
	// CRLMaxAge: a revocation list older than this no longer counts (zero:
	// any age does).
	CRLMaxAge time.Duration
}

// Checker checks the dependencies.
type Checker struct {
	Database func(context.Context) error
	Vault    *Vault // nil: the server runs without Vault
	Now      func() time.Time
	Log      *slog.Logger
	// OnChange is told whether the replica is ready after each check (the
	// gRPC health service follows it).
	OnChange func(ready bool)
	// VaultErrors counts failed checks of Vault (operation "health").
	VaultErrors metric.Int64Counter

	mu          sync.Mutex
	tokenExpiry time.Time // last known; zero: never expires
	vaultDown   time.Time // first failure of the current outage
	dbDown      time.Time // first failure of the database's current outage
	// report serialises the swaps of last with what requests tell
	// (DatabaseUnavailable, DatabaseAnswered); dbFailing says, without a
	// lock, whether the last report has the database down.
	report    sync.Mutex
	dbFailing atomic.Bool
	last      atomic.Pointer[Report]
}

// Report is the answer of /readyz.
type Report struct {
	Status    string           `json:"status"` // ready, degraded, not ready
	Ready     bool             `json:"ready"`
	CheckedAt time.Time        `json:"checked_at"`
	Checks    map[string]Check `json:"checks"`
}

// Check is one dependency's state.
type Check struct {
	Status      string                `json:"status"`
	Error       string                `json:"error,omitempty"`
	Since       *time.Time            `json:"failing_since,omitempty"`
	Credentials map[string]Credential `json:"credentials,omitempty"`
}

// Credential is the state of one credential taken from Vault.
type Credential struct {
	Status string `json:"status"`
	// Until is when it stops being trusted (zero: never).
	Until *time.Time `json:"trusted_until,omitempty"`
	// Remaining is Until less the check's time, in seconds.
	Remaining *float64 `json:"remaining_seconds,omitempty"`
}

// Stamp is a time set by one goroutine and read by another.
type Stamp struct{ t atomic.Pointer[time.Time] }

func (s *Stamp) Set(t time.Time) { s.t.Store(&t) }

// Get is the time set last; zero if never set.
func (s *Stamp) Get() time.Time {
	if p := s.t.Load(); p != nil {
		return *p
	}
	return time.Time{}
}

// Check checks every dependency now and keeps the report for ServeHTTP.
func (c *Checker) Check(ctx context.Context) Report {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r := Report{CheckedAt: c.Now(), Checks: map[string]Check{}}
	dbErr := c.Database(ctx)
	if c.Vault != nil {
		r.Checks["vault"] = c.checkVault(ctx, r.CheckedAt)
	}
	c.report.Lock()
	defer c.report.Unlock()
	r.Checks["database"] = c.databaseCheck(r.CheckedAt, dbErr)
	r.summarise()
	c.publish(&r, ctx.Err() == nil)
	if c.OnChange != nil {
		c.OnChange(r.Ready)
	}
	return r
}

// databaseCheck records the database's state; called with report held.
func (c *Checker) databaseCheck(now time.Time, err error) Check {
	if err == nil {
		c.dbDown = time.Time{}
		c.dbFailing.Store(false)
		return Check{Status: OK}
	}
	if c.dbDown.IsZero() {
		c.dbDown = now
	}
	c.dbFailing.Store(true)
	since := c.dbDown
	return Check{Status: Down, Error: err.Error(), Since: &since}
}

// summarise sets the report's status from its checks.
func (r *Report) summarise() {
	r.Status, r.Ready = "ready", true
	for _, ch := range r.Checks {
		switch ch.Status {
		case Down:
			r.Status, r.Ready = "not ready", false
		case Degraded:
			if r.Ready {
				r.Status = "degraded"
			}
		}
	}
}

// publish makes r the report /readyz serves and logs a change of status;
// called with report held. It returns the report it replaced.
func (c *Checker) publish(r *Report, logChange bool) *Report {
	prev := c.last.Swap(r)
	if c.Log != nil && logChange && (prev == nil || prev.Status != r.Status) {
		args := []any{"status", r.Status}
		for name, ch := range r.Checks {
			if ch.Error != "" {
				args = append(args, name, ch.Error)
			}
		}
		if r.Status == "ready" {
			c.Log.Info("readiness", args...)
		} else {
			c.Log.Warn("readiness", args...)
		}
	}
	return prev
}

// DatabaseUnavailable is told by a request that could not reach the
// database. The replica is unready at once, rather than at the next
// periodic check, while every request fails.
func (c *Checker) DatabaseUnavailable(err error) {
	c.requestSaw(err)
}

// DatabaseAnswered is told by a request the database answered. If the
// last report has the database down, the replica is ready again at once,
// rather than at the next periodic check, while requests succeed. Called
// on every successful request, it costs one atomic load otherwise.
func (c *Checker) DatabaseAnswered() {
	if c.dbFailing.Load() {
		c.requestSaw(nil)
	}
}

// requestSaw updates the last report's database check with what a request
// found, keeping the rest of the report (Vault is not checked here).
func (c *Checker) requestSaw(err error) {
	c.report.Lock()
	defer c.report.Unlock()
	prev := c.last.Load()
	if prev == nil || (err == nil) == (prev.Checks["database"].Status == OK) {
		return // before the first check, or nothing new
	}
	now := c.Now()
	r := Report{CheckedAt: now, Checks: make(map[string]Check, len(prev.Checks))}
	for name, ch := range prev.Checks {
		r.Checks[name] = ch
	}
	r.Checks["database"] = c.databaseCheck(now, err)
	r.summarise()
	c.publish(&r, true)
	if c.OnChange != nil && r.Ready != prev.Ready {
		c.OnChange(r.Ready)
	}
}

func (c *Checker) checkVault(ctx context.Context, now time.Time) Check {
	v := c.Vault
	ttl, err := v.Check(ctx)
	c.mu.Lock()
	ch := Check{Status: OK}
	if err != nil {
		if c.VaultErrors != nil {
			c.VaultErrors.Add(ctx, 1, metric.WithAttributes(attribute.String("operation", "health")))
		}
		if c.vaultDown.IsZero() {
			c.vaultDown = now
		}
		since := c.vaultDown
		ch = Check{Status: Degraded, Error: err.Error(), Since: &since}
	} else {
		c.vaultDown = time.Time{}
		c.tokenExpiry = time.Time{}
		if ttl > 0 {
			c.tokenExpiry = now.Add(ttl)
		}
	}
	tokenExpiry := c.tokenExpiry
	c.mu.Unlock()

	ch.Credentials = map[string]Credential{
		"token":              credential(now, tokenExpiry),
		"server_certificate": credential(now, nonZero(v.CertExpiry()).Add(-v.CertMargin)),
	}
	if v.CRL != nil {
		var until time.Time
		if v.CRLMaxAge > 0 {
			until = v.CRL.Get().Add(v.CRLMaxAge)
		}
		ch.Credentials["revocation_list"] = credential(now, until)
	}
	for _, cr := range ch.Credentials {
		if cr.Status != OK {
			ch.Status = Down
		}
	}
	return ch
}

// nonZero keeps an unknown expiry from reading as "never": a certificate
// always expires.
func nonZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0)
	}
	return t
}

func credential(now, until time.Time) Credential {
	if until.IsZero() {
		return Credential{Status: OK}
	}
	left := until.Sub(now).Seconds()
	cr := Credential{Status: OK, Until: &until, Remaining: &left}
	if !now.Before(until) {
		cr.Status = "expired"
	}
	return cr
}

// Watch checks every interval until ctx ends.
func (c *Checker) Watch(ctx context.Context, every time.Duration) {
	for {
		c.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Last is the latest report; nil before the first check.
func (c *Checker) Last() *Report { return c.last.Load() }

// ServeHTTP answers /readyz on the admin listener: 200 while ready
// (degraded included), 503 otherwise, with the report as JSON.
func (c *Checker) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r := c.last.Load()
	if r == nil {
		r = &Report{Status: "starting"}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !r.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(r)
}

// ServeVerdict answers a load balancer's /readyz: 200 "ready" while ready
// (degraded included), 503 "not ready" otherwise, and nothing more: which
// dependency fails and when credentials expire are for operators
// (ServeHTTP), not for whoever can reach the public port.
func (c *Checker) ServeVerdict(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r := c.last.Load(); r == nil || !r.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

// RegisterMetrics adds gauges an alert can watch before readiness turns:
// whether each dependency answers, and each Vault credential's seconds left.
func (c *Checker) RegisterMetrics(m metric.Meter) error {
	up, err := m.Int64ObservableGauge("coalition.dependency.up",
		metric.WithDescription("1 when the dependency answered the last readiness check, by dependency (database, vault)"))
	if err != nil {
		return err
	}
	left, err := m.Float64ObservableGauge("coalition.vault.credential.remaining", metric.WithUnit("s"),
		metric.WithDescription("Seconds until a credential taken from Vault stops being trusted, by credential; below zero the replica is unready"))
	if err != nil {
		return err
	}
	ready, err := m.Int64ObservableGauge("coalition.ready", metric.WithDescription("1 when the replica is ready to serve"))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r := c.last.Load()
		if r == nil {
			return nil
		}
		o.ObserveInt64(ready, b2i(r.Ready))
		for name, ch := range r.Checks {
			o.ObserveInt64(up, b2i(ch.Status == OK || (name == "vault" && ch.Error == "")),
				metric.WithAttributes(attribute.String("dependency", name)))
			for cred, cr := range ch.Credentials {
				if cr.Remaining != nil {
					o.ObserveFloat64(left, *cr.Remaining, metric.WithAttributes(attribute.String("credential", cred)))
				}
			}
		}
		return nil
	}, up, left, ready)
	return err
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
