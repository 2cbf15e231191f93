// Package clock has the settable clocks that tests travel in time with. The
// product itself takes time.Now (and time.After where it waits); everything
// that reads the time takes a func() time.Time, so a test can pass
// Manual.Now or Offset.Now instead.
package clock

import (
	"sync"
	"sync/atomic"
	"time"
)

// Manual is a clock that moves only when told. Safe for concurrent use.
type Manual struct {
	mu     sync.Mutex
	t      time.Time
	timers []timer
}

type timer struct {
	at time.Time
	ch chan time.Time
}

// NewManual returns a clock showing t.
func NewManual(t time.Time) *Manual { return &Manual{t: t} }

func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.fire()
}

// Set puts the clock at t.
func (c *Manual) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
	c.fire()
}

// After is time.After on this clock: the channel receives the clock's time
// once Advance or Set has brought it d past the time of the call.
func (c *Manual) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, timer{at: c.t.Add(d), ch: ch})
	c.fire()
	return ch
}

// Waiting is the number of After channels that have not fired yet: a test
// waits for a watcher to be asleep before it moves the clock past its
// wake-up time.
func (c *Manual) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// fire sends on the timers that are due; c.mu is held.
func (c *Manual) fire() {
	pending := c.timers[:0]
	for _, tm := range c.timers {
		if tm.at.After(c.t) {
			pending = append(pending, tm)
			continue
		}
		tm.ch <- c.t // buffered, sent once
	}
	c.timers = pending
}

// Offset is the wall clock shifted by an offset that a test moves: for tests
// where something outside the process keeps real time (certificates a real
// Vault issues, say) and the test travels ahead of it. Safe for concurrent
// use; the zero value shows the wall clock.
type Offset struct{ d atomic.Int64 }

func (c *Offset) Now() time.Time { return time.Now().Add(time.Duration(c.d.Load())) }

// Advance moves the clock by d (back if d is negative).
func (c *Offset) Advance(d time.Duration) { c.d.Add(int64(d)) }
