package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, must answer either an
// identity or a *TokenError, and its description must stay safe for a response header.
// Seeds live in testdata/fuzz/FuzzVerify; valid tokens for this run's key are added here.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	v := fx.verifier(f)
	c := claimsAt(fx.clock.Now(), "execute")
	f.Add(authtest.Mint(f, fx.k1, c))
	f.Add(authtest.Mint(f, fx.k1, with(c, "aud", []string{"x", testAPI}, "exp", 1.5e300, "roles", nil)))
	f.Add(authtest.MintWith(f, fx.k1, nil, c, "none"))
	f.Add(authtest.MintWith(f, fx.k1, nil, c, "HS256"))
	f.Add(authtest.MintWith(f, fx.k2, map[string]any{"kid": "k1"}, c, "PS256"))

	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err == nil {
			if id == nil {
				t.Fatal("nil identity without an error")
			}
			return
		}
		var te *TokenError
		if !errors.As(err, &te) || !errors.Is(err, ErrInvalidToken) || te.Reason == "" {
			t.Fatalf("error %v (%T) is not a *TokenError with a reason", err, err)
		}
		if id != nil {
			t.Fatal("identity returned with an error")
		}
		if strings.ContainsAny(te.Description, "\"\\\r\n") {
			t.Fatalf("description %q is unsafe for WWW-Authenticate", te.Description)
		}
	})
}
