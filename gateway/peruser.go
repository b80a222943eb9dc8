package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
)

// PerUser runs one upstream process per user (serve --per-user): a user's sessions share it,
// with their JSON-RPC IDs and progress tokens rewritten as by [Shared] (each user has a Shared
// of their own), and so do the server's notifications: they reach that user's sessions only.
// The process starts with the user's first session and ends with their last one (closed,
// idle or ended), so --max-sessions bounds the processes too.
//
// Why per user rather than per session or shared: a server that acts as the user (a Graph
// token in its environment) must never serve another user, yet starting one per session
// multiplies processes for clients that open several sessions.
//
// With TokenEnv, the user's On-Behalf-Of token (SessionInfo.UserToken) is put in the
// process's environment under that name, and the process is restarted with a fresh token
// before the old one expires (see [RenewDelay]); the user's sessions stay open across the
// restart (see [Shared.Restart] for what is lost).
type PerUser struct {
	cfg PerUserConfig

	mu    sync.Mutex
	users map[string]*userUpstream // by ownerOf
}

// PerUserConfig configures [NewPerUser].
type PerUserConfig struct {
	// Dial starts one process (a [Command]'s Dial); SessionInfo.Env carries the token.
	Dial Dialer
	// TokenEnv, when set, names the variable that holds the user's On-Behalf-Of token in the
	// process's environment; the gateway must then exchange tokens (Config.OBO).
	TokenEnv string
	// Logger; nil discards.
	Logger *slog.Logger
	// Now and AfterFunc are the clock of token renewals (time.Now and time.AfterFunc when
	// nil); tests replace them so that a renewal happens when the test says, not after a
	// sleep. AfterFunc returns a function that cancels the timer.
	Now       func() time.Time
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Token renewal timing (see [RenewDelay]).
const (
	// renewMargin: a token is renewed at least this long before it expires. MSAL itself treats
	// a token within 5 minutes of expiry as expired (MSAL Go v1.10.1,
	// apps/internal/base/storage/items.go, AccessToken.Validate:
	// ExpiresOn.Before(time.Now().Add(5 * time.Minute))), so a process should never hold one.
	renewMargin = 5 * time.Minute
	// minRenewDelay stops a token that is (nearly) expired on arrival from causing a tight
	// loop of exchanges and restarts.
	minRenewDelay = 30 * time.Second
	// renewTimeout bounds one renewal: the exchange, the new process's start and initialize.
	renewTimeout = time.Minute
	// renewRetryEvery spaces the retries of a failed renewal: a user who must consent or
	// sign in again fails every exchange, and each request of theirs must not cost a round
	// trip to Entra (nor a forced one, which no cache absorbs).
	renewRetryEvery = 10 * time.Second
)

// RenewDelay is when a process holding a token that expires at exp, obtained at now, is
// restarted with a fresh one: at 80% of the token's remaining lifetime or renewMargin before
// it expires, whichever is sooner, and never sooner than minRenewDelay. It returns 0 for a
// token without an expiry (never renewed).
func RenewDelay(now, exp time.Time) time.Duration {
	if exp.IsZero() {
		return 0
	}
	life := exp.Sub(now)
	d := life * 4 / 5
	if m := life - renewMargin; m > 0 && m < d {
		d = m
	}
	return max(d, minRenewDelay)
}

// NewPerUser returns the per-user upstreams; its Dial is the gateway's Dialer. Close it after
// the gateway.
func NewPerUser(cfg PerUserConfig) (*PerUser, error) {
	if cfg.Dial == nil {
		return nil, errors.New("gateway: PerUserConfig.Dial is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	return &PerUser{cfg: cfg, users: map[string]*userUpstream{}}, nil
}

// Processes returns the number of users with a process (or one starting).
func (p *PerUser) Processes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.users)
}

// Close stops every user's process.
func (p *PerUser) Close() error {
	p.mu.Lock()
	all := make([]*userUpstream, 0, len(p.users))
	for _, u := range p.users {
		all = append(all, u)
	}
	clear(p.users)
	p.mu.Unlock()
	for _, u := range all {
		u.stop()
	}
	return nil
}

// Dial attaches a session to its user's process, starting it if needed; it is a [Dialer].
// Without a signed-in user there is no one to key the process by: serve refuses --per-user
// with --no-auth, and Dial refuses such a session.
func (p *PerUser) Dial(ctx context.Context, info SessionInfo, recv func([]byte), exited func(error)) (Upstream, error) {
	if info.Identity == nil {
		return nil, errors.New("a per-user upstream needs a signed-in user")
	}
	if p.cfg.TokenEnv != "" && info.UserToken == nil {
		return nil, errors.New("a per-user upstream with a token variable needs the gateway's On-Behalf-Of exchange (Config.OBO)")
	}
	owner := ownerOf(info.Identity)
	p.mu.Lock()
	u := p.users[owner]
	if u == nil {
		u = &userUpstream{p: p, owner: owner, userToken: info.UserToken}
		u.logger = p.cfg.Logger.With("upstream", "user", "subject", owner)
		u.sh = newShared(u.dialProcess, p.cfg.Logger, SessionInfo{ID: "user", Short: "user", Logger: u.logger, Identity: info.Identity})
		u.sh.oneUser = true
		p.users[owner] = u
	}
	u.refs++
	p.mu.Unlock()
	up, err := u.sh.Dial(ctx, info, recv, exited)
	if err != nil {
		p.release(u)
		return nil, err
	}
	return &userSession{u: u, inner: up, recv: recv}, nil
}

// release forgets a session of u; the last one stops u's process.
func (p *PerUser) release(u *userUpstream) {
	p.mu.Lock()
	u.refs--
	last := u.refs == 0
	if last && p.users[u.owner] == u {
		delete(p.users, u.owner)
	}
	p.mu.Unlock()
	if last {
		u.stop()
	}
}

// userUpstream is one user's process (through its Shared) and the token it holds.
type userUpstream struct {
	p         *PerUser
	owner     string
	sh        *Shared
	logger    *slog.Logger
	userToken func(ctx context.Context, force bool) (*auth.Token, error)
	refs      int // sessions attached; guarded by p.mu

	renewMu sync.Mutex // one renewal at a time (the timer's, or a request's after a failure)

	mu        sync.Mutex
	token     *auth.Token // the running process's token
	started   *auth.Token // the token of a process being started, until commit
	next      *auth.Token // the token the next process gets (a renewal), else one is fetched
	stale     error       // the last renewal failed: retried at the user's next request
	staleAt   time.Time   // when it failed (renewRetryEvery)
	stopTimer func() bool
	stopped   bool
}

// dialProcess starts the user's process, with the user's token in its environment when
// TokenEnv is set; it is the Dialer of u's Shared.
func (u *userUpstream) dialProcess(ctx context.Context, info SessionInfo, recv func([]byte), exited func(error)) (Upstream, error) {
	name := u.p.cfg.TokenEnv
	if name == "" {
		return u.p.cfg.Dial(ctx, info, recv, exited)
	}
	// A renewal (restart) brings its token in next; a first start fetches one.
	u.mu.Lock()
	tok := u.next
	u.next = nil
	u.mu.Unlock()
	renewal := tok != nil
	if !renewal {
		var err error
		if tok, err = u.userToken(ctx, false); err != nil {
			return nil, &TokenError{Err: err}
		}
	}
	// The token travels only in the child's environment: never in its arguments (the
	// process list), never in a log line.
	info.Env = append(append([]string(nil), info.Env...), name+"="+tok.AccessToken)
	up, err := u.p.cfg.Dial(ctx, info, recv, exited)
	if err != nil {
		return nil, err
	}
	if renewal {
		// Not current until Shared.Restart has initialized it and swapped it in: if that
		// fails, the old process (and its token) stays.
		u.mu.Lock()
		u.started = tok
		u.mu.Unlock()
	} else {
		u.commit(tok)
	}
	return up, nil
}

// commit makes tok, the token of the process now running, the current one and schedules its
// renewal.
func (u *userUpstream) commit(tok *auth.Token) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.token, u.stale = tok, nil
	if u.stopTimer != nil {
		u.stopTimer()
		u.stopTimer = nil
	}
	if u.stopped {
		return
	}
	if d := RenewDelay(u.p.cfg.Now(), tok.ExpiresOn); d > 0 {
		u.stopTimer = u.p.cfg.AfterFunc(d, u.renew)
		u.logger.Debug("upstream token renewal scheduled", "in", d, "exp", tok.ExpiresOn)
	}
}

// renew restarts the process with a freshly exchanged token (force: a token the cache still
// holds would expire as soon). On failure the process keeps its token, still valid for at
// least the renewal margin, and the renewal is retried at the user's next request.
func (u *userUpstream) renew() {
	ctx, cancel := context.WithTimeout(context.Background(), renewTimeout)
	defer cancel()
	if err := u.restart(ctx, "its token was renewed"); err != nil {
		u.logger.Warn("could not renew the upstream's token: retrying at the user's next request", "err", err)
	}
}

// restart exchanges a fresh token and restarts the process with it, recording a failure.
func (u *userUpstream) restart(ctx context.Context, why string) error {
	u.renewMu.Lock()
	defer u.renewMu.Unlock()
	u.mu.Lock()
	stopped := u.stopped
	u.mu.Unlock()
	if stopped {
		return nil
	}
	tok, err := u.userToken(ctx, true)
	if err == nil {
		u.mu.Lock()
		u.next = tok
		u.mu.Unlock()
		if err = u.sh.Restart(ctx, why); err == nil {
			u.mu.Lock()
			started := u.started
			u.started = nil
			u.mu.Unlock()
			if started != nil {
				u.commit(started)
			}
			return nil
		}
	}
	u.mu.Lock()
	u.next, u.started, u.stale, u.staleAt = nil, nil, err, u.p.cfg.Now()
	u.mu.Unlock()
	return err
}

// retryDue reports whether a failed renewal may be tried again.
func (u *userUpstream) retryDue() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return !u.p.cfg.Now().Before(u.staleAt.Add(renewRetryEvery))
}

// stop ends the user's process and its renewals.
func (u *userUpstream) stop() {
	u.mu.Lock()
	u.stopped = true
	if u.stopTimer != nil {
		u.stopTimer()
		u.stopTimer = nil
	}
	u.mu.Unlock()
	if err := u.sh.Close(); err != nil {
		u.logger.Warn("could not stop the upstream", "err", err)
	}
}

// usable reports whether requests may go to the process: its last renewal did not fail, or
// its token has not expired yet.
func (u *userUpstream) usable() (ok bool, stale error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stale == nil {
		return true, nil
	}
	return u.token != nil && u.p.cfg.Now().Before(u.token.ExpiresOn), u.stale
}

// userSession is one session's view of its user's process; it is the session's Upstream.
type userSession struct {
	u     *userUpstream
	inner Upstream
	recv  func([]byte)
	once  sync.Once
}

// Send relays msg to the user's process. After a failed renewal, a request first retries it
// (the request has just brought a fresh bearer token to exchange); when that fails too and
// the old token has expired, the request is answered here, saying what the user must do,
// instead of reaching a process whose token no longer works.
func (s *userSession) Send(msg []byte) error {
	if s.u.p.cfg.TokenEnv != "" && s.u.staleNow() {
		if ans := s.retryRenewal(msg); ans != nil {
			s.recv(ans)
			return nil
		}
	}
	return s.inner.Send(msg)
}

// staleNow reports whether the last renewal failed.
func (u *userUpstream) staleNow() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stale != nil
}

// retryRenewal retries a failed renewal for a client request; it returns the answer to send
// the client instead of relaying msg, or nil to relay it.
func (s *userSession) retryRenewal(msg []byte) []byte {
	m, err := jsonrpc.Parse(msg)
	if err != nil || !m.IsRequest() || m.Method == methodInitialize {
		return nil
	}
	if s.u.retryDue() {
		ctx, cancel := context.WithTimeout(context.Background(), renewTimeout)
		defer cancel()
		if err := s.u.restart(ctx, "its token was renewed"); err == nil {
			return nil
		}
	}
	ok, stale := s.u.usable()
	if ok {
		return nil // the old token still works: renew later
	}
	te := &TokenError{Err: stale}
	if m.Method == methodToolsCall {
		return toolError(m.ID, te.Error())
	}
	return errorResponse(m.ID, CodeTokenUnavailable, te.Error(), nil)
}

// Close detaches the session; the user's last session stops the process.
func (s *userSession) Close() error {
	var err error
	s.once.Do(func() {
		err = s.inner.Close()
		s.u.p.release(s.u)
	})
	return err
}
