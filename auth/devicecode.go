package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// DeviceCode signs the user in with the device code flow ([RFC 8628]): it writes the
// instructions (MSAL's message, or the verification URL and user code) to
// LoginConfig.Prompt and waits until the user approves, declines, the code expires or ctx
// ends. Errors wrap [ErrLoginDeclined], [ErrLoginExpired], [ErrLoginCancelled] (and the
// context's error), [ErrLoginFailed] or [ErrUnreachable].
//
// [RFC 8628]: https://www.rfc-editor.org/rfc/rfc8628
func (l *Login) DeviceCode(ctx context.Context) (*Token, error) {
	return l.exclusive(func() (*Token, error) {
		dc, err := l.client.AcquireTokenByDeviceCode(ctx, l.cfg.Scopes)
		if err != nil {
			return nil, l.deviceError(ctx, err)
		}
		if l.cfg.Prompt != nil {
			msg := strings.TrimSpace(dc.Result.Message)
			if msg == "" {
				msg = fmt.Sprintf("To sign in, open %s and enter the code %s", dc.Result.VerificationURL, dc.Result.UserCode)
			}
			fmt.Fprintln(l.cfg.Prompt, msg)
		}
		// The device code itself is a bearer secret until redeemed: it is never logged.
		l.logger.Debug("waiting for device sign-in", "verification_uri", dc.Result.VerificationURL, "code_expires", dc.Result.ExpiresOn)
		res, err := dc.AuthenticationResult(ctx)
		if err != nil {
			return nil, l.deviceError(ctx, err)
		}
		return l.signedIn(res), nil
	})
}

// deviceError classifies a failed device-code start or poll.
func (l *Login) deviceError(ctx context.Context, err error) error {
	if errors.Is(err, ErrCache) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", ErrLoginExpired, ctxErr)
		}
		return fmt.Errorf("%w: %w", ErrLoginCancelled, ctxErr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// MSAL's own polling deadline: the device code's expires_in.
		return fmt.Errorf("%w: run fastmcp-auth login again and enter the code sooner", ErrLoginExpired)
	}
	if IsUnreachable(err) {
		return l.unreachable(err)
	}
	if oe, ok := loginOAuthError(err); ok {
		switch oe.Error {
		case "authorization_declined", "access_denied":
			return fmt.Errorf("%w: run fastmcp-auth login again to retry", ErrLoginDeclined)
		case "expired_token", "code_expired":
			return fmt.Errorf("%w: run fastmcp-auth login again and enter the code sooner", ErrLoginExpired)
		}
		return fmt.Errorf("%w: the authority answered %s", ErrLoginFailed, oe)
	}
	return fmt.Errorf("%w: %s", ErrLoginFailed, loginSafeMessage(err))
}
