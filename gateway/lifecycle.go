package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// Close ends every session (each child gets its stdin closed, then SIGTERM, then SIGKILL)
// and refuses new ones. It returns once every upstream is gone.
func (g *Gateway) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	close(g.stop)
	all := make([]*session, 0, len(g.sessions))
	for _, s := range g.sessions {
		all = append(all, s)
	}
	clear(g.sessions)
	g.mu.Unlock()
	// The reaper may be ending sessions of its own: wait for those first, so that no child
	// outlives Close.
	g.reaped.Wait()
	// In parallel: each end may wait out a child's grace periods (seconds), and a shutdown
	// should take that long once, not once per session.
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.end("the gateway is shutting down: the session has ended")
		}()
	}
	wg.Wait()
	g.notifySessions()
}

// reap ends idle sessions.
func (g *Gateway) reap() {
	defer g.reaped.Done()
	// A quarter of the timeout keeps the overshoot small; at most 30s so a long timeout is
	// still checked often, at least 10ms so a tiny one (tests) does not spin.
	every := min(g.cfg.IdleTimeout/4, 30*time.Second)
	every = max(every, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-g.cfg.IdleTimeout)
		g.mu.Lock()
		var idle []*session
		for id, s := range g.sessions {
			if s.idleSince(cutoff) {
				idle = append(idle, s)
				delete(g.sessions, id)
			}
		}
		g.mu.Unlock()
		// Ending a session may take its child's grace periods: not under g.mu, and not one
		// after the other.
		for _, s := range idle {
			g.logger.Info("session idle: ending it", "session", s.short, "idle_timeout", g.cfg.IdleTimeout)
			g.reaped.Add(1)
			go func() {
				defer g.reaped.Done()
				s.end("the session was idle for too long and has ended")
			}()
		}
		if len(idle) > 0 {
			g.notifySessions()
		}
	}
}

// notifySessions reports the number of live sessions (the metrics' upstream gauge).
func (g *Gateway) notifySessions() {
	if g.cfg.OnSessions != nil {
		g.cfg.OnSessions(g.Sessions())
	}
}

// newSession starts a session and its upstream for owner. Sessions being started count
// against MaxSessions too, so a burst of initialize requests cannot start more children than
// the bound while the first ones are still starting.
func (g *Gateway) newSession(ctx context.Context, owner string, creator *auth.Identity) (*session, error) {
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return nil, errClosed
	case len(g.sessions)+g.starting >= g.cfg.MaxSessions:
		g.mu.Unlock()
		return nil, errFull
	}
	g.starting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.starting--
		g.mu.Unlock()
	}()

	// 128 random bits: a session ID cannot be guessed (and is useless without its user's
	// token anyway, see session). The short form, in logs, is too short to use.
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	if g.cfg.ReplicaID != "" {
		id = g.cfg.ReplicaID + "." + id
	}
	short := hex.EncodeToString(rnd[:4])
	s := &session{
		id: id, short: short, owner: owner, g: g,
		logger:  g.logger,
		pending: map[string]*call{}, progress: map[string]*stream{},
		lastActive: time.Now(),
		endedCh:    make(chan struct{}),
	}
	info := SessionInfo{ID: id, Short: short, Logger: g.logger.With("session", short), Identity: creator, UserToken: g.userToken(owner)}
	var upMu sync.Mutex // orders exited after the assignment of s.up
	upMu.Lock()
	// WithoutCancel: the upstream outlives the initialize request that started it (ctx ends
	// with that request), but keeps its values.
	up, err := g.cfg.Dial(context.WithoutCancel(ctx), info, s.fromUpstream, func(err error) {
		upMu.Lock()
		defer upMu.Unlock()
		reason := "the upstream MCP server exited"
		if err != nil {
			reason += " (" + err.Error() + ")"
		}
		reason += ": this session has ended; start a new session (initialize)"
		g.logger.Warn("upstream ended", "session", short, "err", err)
		g.remove(s)
		s.end(reason)
	})
	if err != nil {
		upMu.Unlock()
		return nil, err
	}
	s.up = up
	upMu.Unlock()

	// Close may have run while the upstream started: it did not see this session, so it is
	// ended here rather than left running after Close returned.
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		s.end("the gateway is shutting down")
		return nil, errClosed
	}
	g.sessions[id] = s
	g.mu.Unlock()
	g.logger.Info("session started", "session", short, "subject", owner)
	g.notifySessions()
	return s, nil
}

// remove forgets s (it is ended by the caller). Several paths may end one session (DELETE,
// the idle reaper, the upstream's exit); only the one that removes it reports the count.
func (g *Gateway) remove(s *session) {
	g.mu.Lock()
	_, ok := g.sessions[s.id]
	if ok {
		delete(g.sessions, s.id)
	}
	g.mu.Unlock()
	if ok {
		g.notifySessions()
	}
}

// lookup returns the live session with this ID, or nil.
func (g *Gateway) lookup(id string) *session {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sessions[id]
}
