// Package testclock is a manual clock for tests of code that takes a Now and an AfterFunc. It
// imports nothing of this module, so any package's internal tests can use it (testenv, which
// imports devauthority, cannot serve devauthority's or auth's own tests).
package testclock

import (
	"sync"
	"time"
)

// Clock is a manual clock for code that takes a Now and an AfterFunc (the gateway's token
// renewals): time moves only by Advance, and a timer runs only when the test calls it (see
// Armed), so a test of "renew before expiry" needs no sleep and cannot flake on a slow machine.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*Timer
}

// Timer is one AfterFunc of a [Clock].
type Timer struct {
	// D is the delay the code asked for; Fire runs the function (in the caller's goroutine).
	D    time.Duration
	Fire func()

	stopped bool
}

// New returns a clock showing start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock; it fires no timer.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// AfterFunc records a timer and returns the function that stops it, as time.AfterFunc's
// Timer.Stop does.
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
