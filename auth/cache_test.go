package auth

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

func TestDamagedCacheIsMovedAside(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
	}{
		{"invalid JSON", `{"AccessToken": {`},
		{"wrong shape", `{"AccessToken": 5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAuthority(t)
			dir := t.TempDir()
			cacheFile := testenv.WriteFile(t, dir, "token_cache.json", tt.content)
			var logs bytes.Buffer
			l, _ := newTestLogin(t, f, cacheFile, func(c *LoginConfig) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			ctx := testCtx(t)
			if _, err := l.Silent(ctx); !errors.Is(err, ErrNotSignedIn) {
				t.Fatalf("Silent on a damaged cache: %v; want ErrNotSignedIn (not fatal)", err)
			}
			aside, _ := filepath.Glob(cacheFile + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files: %v, want one", aside)
			}
			if got, _ := os.ReadFile(aside[0]); string(got) != tt.content {
				t.Errorf("moved-aside content %q, want the original", got)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), aside[0]) {
				t.Errorf("warning does not name %s: %s", aside[0], logs.String())
			}
			// The cache works again: sign in, and the new file is valid.
			deviceSignIn(t, ctx, l)
			if _, err := l.Silent(ctx); err != nil {
				t.Fatalf("Silent after re-login: %v", err)
			}
		})
	}
}

func TestCacheWriteFailureKeepsPreviousCache(t *testing.T) {
	t.Parallel()
	// The process runs as root in CI containers, where chmod cannot make a directory
	// read-only, so the failures are injected at the two system calls that hit them.
	tests := []struct {
		name     string
		readOnly bool
		want     error
	}{
		{"read-only directory", true, syscall.EROFS},
		{"disk full", false, syscall.ENOSPC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAuthority(t)
			f.set(func(f *fakeAuthority) { f.lifetime = 200 * time.Second }) // every Silent refreshes and writes
			dir := t.TempDir()
			cacheFile := filepath.Join(dir, "token_cache.json")
			ctx := testCtx(t)
			l, _ := newTestLogin(t, f, cacheFile)
			deviceSignIn(t, ctx, l)
			before, err := os.ReadFile(cacheFile)
			if err != nil {
				t.Fatal(err)
			}
			if tt.readOnly {
				l.cache.createTemp = func(dir, _ string) (*os.File, error) {
					return nil, &fs.PathError{Op: "open", Path: dir, Err: syscall.EROFS}
				}
			} else {
				l.cache.write = func(*os.File, []byte) error { return syscall.ENOSPC }
			}
			_, err = l.Silent(ctx)
			if !errors.Is(err, ErrCache) || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), cacheFile) {
				t.Fatalf("Silent: %v; want ErrCache wrapping %v and naming the file", err, tt.want)
			}
			after, _ := os.ReadFile(cacheFile)
			if !bytes.Equal(before, after) {
				t.Errorf("the previous cache was changed by a failed write")
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*")); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestCacheLockWaitsAndHonoursContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "token_cache.json")
	a, b := NewFileCache(path, nil), NewFileCache(path, nil)
	if err := a.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := b.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second acquire while held: %v, want the context's deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.acquire(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	a.Release()
	testenv.Returns(t, done, 5*time.Second, "acquire after Release")
	b.Release()
	b.Release() // idempotent
}

func TestDefaultCacheFile(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	got, err := DefaultCacheFile()
	if err != nil || got != "/x/cache/fastmcp-auth/token_cache.json" {
		t.Fatalf("DefaultCacheFile() = %q, %v", got, err)
	}
}

// jsonMarshaler is a cache.Marshaler returning fixed bytes.
type jsonMarshaler string

func (m jsonMarshaler) Marshal() ([]byte, error) { return []byte(m), nil }

func TestCacheDirectoryModes(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	def, err := DefaultCacheFile()
	if err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(t.TempDir(), "shared")
	tests := []struct {
		name    string
		path    string
		wantDir os.FileMode
	}{
		// fastmcp-auth's own directory is tightened even when something made it 0755.
		{"default location", def, 0o700},
		// A directory the user named is never changed: it may be shared.
		{"user's directory", filepath.Join(shared, "cache.json"), 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.MkdirAll(filepath.Dir(tt.path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Dir(tt.path), 0o755); err != nil {
				t.Fatal(err)
			}
			c := NewFileCache(tt.path, nil)
			defer c.Release()
			if err := c.Export(context.Background(), jsonMarshaler(`{}`), cache.ExportHints{}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Dir(tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.wantDir {
				t.Errorf("directory mode %v, want %v", fi.Mode().Perm(), tt.wantDir)
			}
			if fi, err := os.Stat(tt.path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("file mode: %v %v, want 0600", fi.Mode(), err)
			}
		})
	}
}
