package testenv

import (
	"sync"
	"time"
)

// Clock is a settable clock for the Now seams (devauthority.Config.Now, the verifier's
// clock), safe to read from the server's goroutines while the test advances it. It moves only
// when told, so expiry tests need no sleeps. Its AfterFunc (the gateway's token renewals)
// records timers that run only when the test fires them (see Armed).
type Clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []*Timer
}

// Timer is one AfterFunc of a [Clock].
type Timer struct {
	// D is the delay the code asked for; Fire runs the function (in the caller's goroutine).
	D    time.Duration
	Fire func()

	stopped bool
}

// NewClock returns a Clock set to start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// AfterFunc records a timer and returns the function that stops it, as time.AfterFunc's
// Timer.Stop does. Advance does not fire it: the test calls its Fire.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &Timer{D: d, Fire: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Armed returns the timers not stopped, oldest first.
func (c *Clock) Armed() []*Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Timer
	for _, t := range c.timers {
		if !t.stopped {
			out = append(out, t)
		}
	}
	return out
}
