package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTokenSupplyFetches checks which fetch serves each request of the supply: none while the
// held token is valid, an unforced one near expiry, a forced one after a rejection, and no
// more than one forced refresh per ForcedRefreshInterval, so that a server rejecting every
// token cannot turn each request into a refresh grant.
func TestTokenSupplyFetches(t *testing.T) {
	t.Parallel()
	type step struct {
		after  time.Duration // clock advance before the request
		reject bool          // Refresh(held token) instead of Token
	}
	for _, tc := range []struct {
		name      string
		expiresIn time.Duration // of each fetched token; 0 = unknown
		steps     []step
		want      []string // the fetches made, "silent" or "forced"
	}{
		{"held while valid", time.Hour, []step{{0, false}, {time.Minute, false}, {time.Minute, false}}, []string{"silent"}},
		{"unknown expiry is held", 0, []step{{0, false}, {24 * time.Hour, false}}, []string{"silent"}},
		{"near expiry fetches again", time.Hour, []step{{0, false}, {time.Hour - RefreshLeeway + time.Second, false}}, []string{"silent", "silent"}},
		{"a rejection forces a refresh", time.Hour, []step{{0, false}, {time.Second, true}}, []string{"silent", "forced"}},
		{
			"a second rejection within the interval forces nothing",
			time.Hour,
			[]step{{0, true}, {ForcedRefreshInterval - time.Second, true}},
			[]string{"forced"},
		},
		{
			"a rejection after the interval forces again",
			time.Hour,
			[]step{{0, true}, {ForcedRefreshInterval, true}, {time.Second, false}},
			[]string{"forced", "forced"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
			var calls []string
			s := NewTokenSupply(func(_ context.Context, force bool) (*Token, error) {
				name := "silent"
				if force {
					name = "forced"
				}
				calls = append(calls, name)
				tok := &Token{AccessToken: fmt.Sprintf("t%d", len(calls))}
				if tc.expiresIn != 0 {
					tok.ExpiresOn = now.Add(tc.expiresIn)
				}
				return tok, nil
			})
			s.now = func() time.Time { return now }
			held := ""
			for i, st := range tc.steps {
				now = now.Add(st.after)
				var err error
				if st.reject {
					held, err = s.Refresh(context.Background(), held)
				} else {
					held, err = s.Token(context.Background())
				}
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if want := fmt.Sprintf("t%d", len(calls)); held != want {
					t.Errorf("request %d returned %q, want %q", i, held, want)
				}
			}
			if diff := cmp.Diff(tc.want, calls); diff != "" {
				t.Errorf("fetches (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTokenSupplySharesARefresh: requests rejected with the same token share one refresh; the
// second gets the first one's replacement without a grant.
func TestTokenSupplySharesARefresh(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	fetches := 0
	s := NewTokenSupply(func(context.Context, bool) (*Token, error) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		return &Token{AccessToken: fmt.Sprintf("t%d", fetches)}, nil
	})
	first, err := s.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]string, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = s.Refresh(context.Background(), first)
		}()
	}
	wg.Wait()
	if diff := cmp.Diff([]string{"t2", "t2", "t2", "t2"}, got); diff != "" {
		t.Errorf("replacements (-want +got):\n%s", diff)
	}
	if fetches != 2 {
		t.Errorf("fetches = %d, want 2 (one sign-in, one shared refresh)", fetches)
	}
}

func TestStaticToken(t *testing.T) {
	t.Parallel()
	if StaticToken("") != nil {
		t.Error("an empty static token must be no supply (no Authorization header)")
	}
	s := StaticToken("fixed")
	if got, err := s.Token(context.Background()); err != nil || got != "fixed" {
		t.Errorf("Token = %q, %v; want fixed", got, err)
	}
	if _, err := s.Refresh(context.Background(), "fixed"); !errors.Is(err, ErrStaticTokenRejected) {
		t.Errorf("Refresh error = %v, want ErrStaticTokenRejected", err)
	}
}

// TestLoginSupplyErrors: a login supply's "not signed in" says to run fastmcp-auth login; an
// unreachable authority does not (signing in again would not help).
func TestLoginSupplyErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		err       error
		wantIs    error
		wantLogin bool
	}{
		{"not signed in", fmt.Errorf("%w: the cached sign-in of alice has expired or was revoked", ErrNotSignedIn), ErrNotSignedIn, true},
		{"authority unreachable", fmt.Errorf("%w: could not reach the authority", ErrUnreachable), ErrUnreachable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := loginSupply(func(context.Context, bool) (*Token, error) { return nil, tc.err }, nil)
			for _, reject := range []bool{false, true} {
				var err error
				if reject {
					_, err = s.Refresh(context.Background(), "old")
				} else {
					_, err = s.Token(context.Background())
				}
				if !errors.Is(err, tc.wantIs) {
					t.Errorf("reject=%v: error %v, want %v", reject, err, tc.wantIs)
				}
				if got := strings.Contains(fmt.Sprint(err), "run `fastmcp-auth login`"); got != tc.wantLogin {
					t.Errorf("reject=%v: error %q: says to run fastmcp-auth login = %v, want %v", reject, err, got, tc.wantLogin)
				}
			}
		})
	}
}

// TestTokenSupplyRepeatsAFailedForcedRefresh: within the interval after a forced refresh
// failed, a rejection gets that failure (say, consent required), not the refused token;
// once a fetch succeeds, the failure is forgotten.
func TestTokenSupplyRepeatsAFailedForcedRefresh(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	boom := errors.New("consent required")
	fail := false
	s := NewTokenSupply(func(_ context.Context, force bool) (*Token, error) {
		if force && fail {
			return nil, boom
		}
		return &Token{AccessToken: "t", ExpiresOn: now.Add(time.Hour)}, nil
	})
	s.now = func() time.Time { return now }
	if _, err := s.Token(t.Context()); err != nil {
		t.Fatal(err)
	}
	fail = true
	for i := range 2 {
		if _, err := s.Refresh(t.Context(), "t"); !errors.Is(err, boom) {
			t.Fatalf("rejection %d: err = %v, want the forced refresh's failure", i, err)
		}
		now = now.Add(time.Second)
	}
	fail = false
	now = now.Add(ForcedRefreshInterval)
	if tok, err := s.Refresh(t.Context(), "t"); err != nil || tok != "t" {
		t.Fatalf("after the interval: %q, %v", tok, err)
	}
}
