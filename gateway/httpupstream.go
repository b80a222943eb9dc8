package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
	"github.com/fastmcp-auth/fastmcp-auth/mcpproxy"
)

// Remote is a Streamable HTTP upstream: one upstream MCP session per client session, opened
// with the gateway's own credentials (Headers) or, with On-Behalf-Of (SessionInfo.UserToken),
// a token issued for the upstream as the caller; never the caller's own: the caller's token was
// issued for the gateway (its audience), and passing it on would let the upstream replay it
// against the gateway or anything else that accepts it (MCP authorization specification,
// "Token Passthrough" is forbidden).
//
// Each session runs package mcpproxy's relay in-process: it already speaks Streamable HTTP as
// a client (sessions, the standalone GET stream, SSE answers, re-initialization after an
// upstream restart) with stdio framing on its other side, which is what [Command] gives too.
type Remote struct {
	// URL is the upstream MCP endpoint.
	URL string
	// Headers are sent with every upstream request (from --upstream-header-file).
	Headers http.Header
	// Client is the HTTP client; nil uses a default one. It must have no overall timeout.
	Client *http.Client
}

// headerTransport adds the static headers to every request.
type headerTransport struct {
	base    http.RoundTripper
	headers http.Header
}

// RoundTrip sends r with the static headers set.
func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.headers {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

// client builds the HTTP client: static headers, redirects only within the upstream's origin,
// and no header of ours sent to another origin.
func (u Remote) client() (*http.Client, error) {
	base := http.DefaultTransport
	if u.Client != nil && u.Client.Transport != nil {
		base = u.Client.Transport
	}
	var rt http.RoundTripper = &headerTransport{base: base, headers: u.Headers}
	// The guard strips Authorization from a request to any other origin, should one be made.
	rt, err := netx.GuardAuthorization(rt, u.URL)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt, CheckRedirect: netx.CheckRedirect}, nil
}

// Dial opens the relay of one session; it is a [Dialer].
func (u Remote) Dial(_ context.Context, info SessionInfo, recv func([]byte), exited func(error)) (Upstream, error) {
	var token *auth.TokenSupply
	if info.UserToken != nil {
		// On-Behalf-Of: the upstream gets a token the authority issued for it, as the caller,
		// and never the caller's own token (whose audience is this gateway). The relay
		// refreshes it before expiry and forces one fresh exchange when the upstream answers
		// 401; an exchange the user must act on reaches the client as a tool error.
		token = auth.NewTokenSupply(func(ctx context.Context, force bool) (*auth.Token, error) {
			return info.UserToken(ctx, force)
		})
		// Static headers are set after the relay's; none may replace the OBO token.
		u.Headers = u.Headers.Clone()
		u.Headers.Del("Authorization")
	}
	hc, err := u.client()
	if err != nil {
		return nil, err
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	r := &remoteConn{in: &lineInput{w: inW, closingErr: "the upstream session is closing"}, cancel: cancel, done: make(chan struct{})}
	go func() {
		err := mcpproxy.Run(ctx, mcpproxy.Config{
			Server:        u.URL,
			HTTPClient:    hc,
			Token:         token,
			Logger:        info.Logger,
			ProgressGap:   -1, // the client side is SSE, where the TypeScript SDK keeps order
			ShutdownGrace: 2 * time.Second,
		}, inR, outW)
		_ = outW.Close()
		r.err = err
		close(r.done)
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64<<10), mcpproxy.DefaultMaxLineLength)
		for sc.Scan() {
			if line := sc.Bytes(); len(line) > 0 {
				recv(append([]byte(nil), line...))
			}
		}
		_ = outR.Close()
		<-r.done
		if !r.in.isClosing() && exited != nil {
			exited(fmt.Errorf("the relay to %s stopped: %v", u.URL, r.err))
		}
	}()
	return r, nil
}

// remoteConn is one session's relay.
type remoteConn struct {
	in     *lineInput // the relay's input
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Send writes one message to the relay's input.
func (r *remoteConn) Send(msg []byte) error {
	return r.in.send(msg)
}

// Close ends the upstream session: the relay lets calls in flight finish briefly, then sends
// DELETE to the upstream.
func (r *remoteConn) Close() error {
	if !r.in.close() {
		<-r.done
		return nil
	}
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.cancel()
		<-r.done
	}
	r.cancel()
	return nil
}

// ReadHeaderFile reads --upstream-header-file: lines "Name: value", blank lines and lines
// starting with # ignored. The file holds credentials, so on Unix it must not be readable by
// group or others (0600), as ssh requires of its keys. Errors never quote a value.
func ReadHeaderFile(path string) (http.Header, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("could not read the header file: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the header file %s is readable by others (mode %04o): it holds credentials; run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("could not read the header file: %w", err)
	}
	h := http.Header{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || !validHeaderName(name) || strings.ContainsAny(value, "\r\x00") {
			return nil, fmt.Errorf("%s line %d: not a header line \"Name: value\"", path, i+1)
		}
		switch http.CanonicalHeaderKey(name) {
		case "Mcp-Session-Id", "Mcp-Protocol-Version", "Content-Type", "Accept", "Content-Length", "Host":
			return nil, fmt.Errorf("%s line %d: %s is set by the gateway itself", path, i+1, name)
		}
		h.Add(name, value)
	}
	return h, nil
}

// validHeaderName: an RFC 9110 token.
func validHeaderName(s string) bool {
	for _, c := range s {
		if c > 0x7e || c <= 0x20 || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}
