package auth

import (
	"context"
	"crypto/rsa"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
)

// benchTokens mints n distinct Entra-sized tokens (about 1.5 KB, like real v2 access tokens).
func benchTokens(b *testing.B, f *fixture, n int) []string {
	b.Helper()
	c := claimsAt(f.clock.Now(), "execute", "read")
	c["aio"] = strings.Repeat("A", 160)
	c["rh"] = strings.Repeat("R", 60)
	c["uti"] = strings.Repeat("U", 22)
	c["idtyp"] = "user"
	c["xms_ftd"] = strings.Repeat("X", 60)
	c["roles"] = []string{"Reader", "Writer"}
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = authtest.Mint(b, f.k1, with(c, "jti", fmt.Sprintf("%032d", i)))
	}
	return tokens
}

// BenchmarkVerifyNewToken measures Verify on tokens it has not seen: parse, key lookup,
// signature, claims, and the cache insert. The cache is emptied after each pass over the
// tokens so every call does the full verification.
func BenchmarkVerifyNewToken(b *testing.B) {
	f := newFixture(b)
	v := f.verifier(b)
	tokens := benchTokens(b, f, 64)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(tokens) == 0 {
			clearVerified(v)
		}
		if _, err := v.Verify(ctx, tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRepeatedToken measures Verify on a token verified before (cache hit).
func BenchmarkVerifyRepeatedToken(b *testing.B) {
	f := newFixture(b)
	v := f.verifier(b)
	token := benchTokens(b, f, 1)[0]
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareJWSVerify is the yardstick: jwx's jws.Verify of the same tokens with the key
// given directly, no claims and no key set.
func BenchmarkBareJWSVerify(b *testing.B) {
	f := newFixture(b)
	tokens := benchTokens(b, f, 64)
	raw := make([][]byte, len(tokens))
	for i, t := range tokens {
		raw[i] = []byte(t)
	}
	pub := f.k1.Signer.Public().(*rsa.PublicKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := jws.Verify(raw[i%len(raw)], jws.WithKey(jwa.RS256, pub)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyVsBare interleaves a new-token Verify and a bare jws.Verify of the same
// token in each iteration and reports their time ratio, which machine load cannot skew the
// way it skews two benchmarks run one after the other.
func BenchmarkVerifyVsBare(b *testing.B) {
	f := newFixture(b)
	v := f.verifier(b)
	tokens := benchTokens(b, f, 64)
	pub := f.k1.Signer.Public().(*rsa.PublicKey)
	ctx := context.Background()
	var verify, bare time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(tokens) == 0 {
			clearVerified(v)
		}
		tok := tokens[i%len(tokens)]
		t0 := time.Now()
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := jws.Verify([]byte(tok), jws.WithKey(jwa.RS256, pub)); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		verify += t1.Sub(t0)
		bare += t2.Sub(t1)
	}
	b.ReportMetric(float64(verify)/float64(bare), "verify/bare")
	b.ReportMetric(float64(verify.Nanoseconds())/float64(b.N), "verify-ns/op")
	b.ReportMetric(float64(bare.Nanoseconds())/float64(b.N), "bare-ns/op")
}

// clearVerified empties v's verified cache, so that the next Verify of each token checks its
// signature again.
func clearVerified(v *Verifier) {
	v.cache.mu.Lock()
	clear(v.cache.entries)
	v.cache.mu.Unlock()
}
