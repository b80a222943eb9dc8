package testenv

import (
	"sync"
	"time"
)

// Clock is a settable clock for the Now seams (devauthority.Config.Now, the verifier's
// clock), safe to read from the server's goroutines while the test advances it. It moves only
// when told, so expiry tests need no sleeps.
type Clock struct {
	mu sync.Mutex
	t  time.Time
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
