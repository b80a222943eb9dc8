package auth

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// browserLoginTimeout bounds the wait for the browser to come back to the loopback redirect:
// MSAL waits without end, and a closed browser tab would otherwise leave the command hanging.
// It matches the 15 minutes a device code lives at Entra.
const browserLoginTimeout = 15 * time.Minute

// Browser signs the user in with the authorization code flow and PKCE on a loopback redirect
// (MSAL Go's interactive flow; [RFC 8252] section 7.3, [RFC 7636]), for tenants whose
// Conditional Access blocks the device code flow. MSAL listens on http://localhost:<random
// port> (register "http://localhost" as a mobile and desktop redirect URI of the client app)
// and asks for response_mode=form_post, so the code never appears in a URL. The sign-in page
// is opened with LoginConfig.OpenURL, by default [OpenBrowser]. Errors are those of
// [Login.DeviceCode].
//
// [RFC 8252]: https://www.rfc-editor.org/rfc/rfc8252#section-7.3
// [RFC 7636]: https://www.rfc-editor.org/rfc/rfc7636
func (l *Login) Browser(ctx context.Context) (*Token, error) {
	return l.exclusive(func() (*Token, error) {
		ctx, cancel := context.WithTimeout(ctx, browserLoginTimeout)
		// Ends the browser command too, if it is still running (see OpenBrowser).
		defer cancel()
		open := l.cfg.OpenURL
		if open == nil {
			open = func(u string) error { return OpenBrowser(ctx, u, l.cfg.Prompt) }
		}
		opts := []public.AcquireInteractiveOption{public.WithOpenURL(open)}
		if l.cfg.Account != "" {
			opts = append(opts, public.WithLoginHint(l.cfg.Account))
		}
		l.logger.Debug("waiting for the browser sign-in")
		res, err := l.client.AcquireTokenInteractive(ctx, l.cfg.Scopes, opts...)
		if err != nil {
			return nil, l.browserError(ctx, err)
		}
		return l.signedIn(res), nil
	})
}

// browserError classifies a failed interactive sign-in. The loopback listener reports an
// error answer by its description only ("User declined to consent ...").
func (l *Login) browserError(ctx context.Context, err error) error {
	msg := strings.ToLower(err.Error())
	switch {
	case strings.Contains(msg, "declined") || strings.Contains(msg, "access_denied") || strings.Contains(msg, "cancel"):
		if ctx.Err() == nil {
			return fmt.Errorf("%w: run fastmcp-auth login --browser again to retry", ErrLoginDeclined)
		}
	case strings.Contains(msg, "could not open a browser"):
		return fmt.Errorf("%w: %s", ErrLoginFailed, loginSafeMessage(err))
	}
	return l.deviceError(ctx, err)
}

// OpenBrowser shows url to the user: it runs the command named by $BROWSER (as git and gh do;
// "%s" in it is replaced by the URL, else the URL is appended), or else the system's opener
// (xdg-open, open, or the Windows URL handler). It always writes the URL to prompt too, so a
// user without a browser on this machine (SSH, a container) can open it elsewhere, as long as
// that browser can reach this machine's localhost. A missing opener is not an error: the
// printed URL is the way then.
//
// The command's output is discarded (stdout carries command results), and it runs under ctx:
// a command still running when the sign-in ends is stopped, so no child outlives us. Openers
// hand the URL to the browser and exit at once; a $BROWSER that stays in the foreground is
// closed when the sign-in completes.
func OpenBrowser(ctx context.Context, url string, prompt io.Writer) error {
	name, args := browserCommand(url)
	if prompt != nil {
		if name == "" {
			fmt.Fprintf(prompt, "No browser found: open this URL to sign in:\n%s\n", url)
		} else {
			fmt.Fprintf(prompt, "Opening your browser to sign in; if it does not open, visit:\n%s\n", url)
		}
	}
	if name == "" {
		return nil
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		if prompt != nil {
			fmt.Fprintf(prompt, "could not start the browser (%s): open the URL above\n", name)
		}
		return nil
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// browserCommand is the command that opens url: $BROWSER, else the system's opener found on
// PATH; "" when there is none.
func browserCommand(url string) (string, []string) {
	if b := strings.TrimSpace(os.Getenv("BROWSER")); b != "" {
		// git and gh accept a command with arguments; Python's webbrowser a %s placeholder.
		// The words are split on spaces, without shell quoting.
		fields := strings.Fields(b)
		if strings.Contains(b, "%s") {
			for i := range fields {
				fields[i] = strings.ReplaceAll(fields[i], "%s", url)
			}
			return fields[0], fields[1:]
		}
		return fields[0], append(fields[1:], url)
	}
	var cands [][]string
	switch runtime.GOOS {
	case "darwin":
		cands = [][]string{{"open"}}
	case "windows":
		// rundll32 hands the URL to the default browser without a shell, so characters such as
		// & in the URL are not interpreted ("start" would need cmd.exe quoting).
		cands = [][]string{{"rundll32", "url.dll,FileProtocolHandler"}}
	default:
		cands = [][]string{{"xdg-open"}, {"x-www-browser"}, {"wslview"}}
	}
	for _, c := range cands {
		if p, err := exec.LookPath(c[0]); err == nil {
			return p, append(c[1:], url)
		}
	}
	return "", nil
}
