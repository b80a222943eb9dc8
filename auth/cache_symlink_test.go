//go:build unix

package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// recordingUnmarshaler is a cache.Unmarshaler that keeps what it was given.
type recordingUnmarshaler struct{ got []byte }

func (r *recordingUnmarshaler) Unmarshal(b []byte) error {
	r.got = append([]byte(nil), b...)
	return nil
}

// TestCacheRefusesSymlinks (issue 10 item 7): a symbolic link as the last component of the
// cache file or its lock file is refused, so that another local user who can write the cache
// directory cannot make fastmcp-auth read their planted tokens, create a file where the link
// points, or overwrite the file the link names. The victim stays untouched.
func TestCacheRefusesSymlinks(t *testing.T) {
	t.Parallel()
	const victimContent = `{"AccessToken":{}}`
	for _, tc := range []struct {
		name       string
		link       string // "cache" or "lock": which path is the link
		targetKept bool   // the link's target exists beforehand
	}{
		{"cache file is a link to a file", "cache", true},
		{"cache file is a dangling link", "cache", false},
		{"lock file is a link to a file", "lock", true},
		{"lock file is a dangling link", "lock", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "token_cache.json")
			victimDir := t.TempDir()
			victim := filepath.Join(victimDir, "victim")
			if tc.targetKept {
				testenv.WriteFile(t, victimDir, "victim", victimContent)
			}
			linkPath := path
			if tc.link == "lock" {
				linkPath = path + ".lock"
			}
			if err := os.Symlink(victim, linkPath); err != nil {
				t.Fatal(err)
			}
			c := NewFileCache(path, nil)
			defer c.Release()
			var u recordingUnmarshaler
			err := c.Replace(context.Background(), &u, cache.ReplaceHints{})
			if !errors.Is(err, ErrCache) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("Replace through a link: %v; want a token cache error naming the symbolic link", err)
			}
			if bytes.Contains(u.got, []byte("AccessToken")) {
				t.Errorf("Replace read the link's target: %q", u.got)
			}
			err = c.Export(context.Background(), jsonMarshaler(`{"RefreshToken":{}}`), cache.ExportHints{})
			if !errors.Is(err, ErrCache) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("Export through a link: %v; want a token cache error naming the symbolic link", err)
			}
			got, err := os.ReadFile(victim)
			switch {
			case tc.targetKept && string(got) != victimContent:
				t.Errorf("the link's target was changed to %q", got)
			case !tc.targetKept && !errors.Is(err, os.ErrNotExist):
				t.Errorf("the dangling link's target was created (%v)", err)
			}
			if fi, err := os.Lstat(linkPath); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the link was replaced: %v %v", fi, err)
			}
		})
	}
}

// TestCacheDirectoryAboveMayBeALink: links above the last component stay allowed (macOS /var,
// symlinked home directories).
func TestCacheDirectoryAboveMayBeALink(t *testing.T) {
	t.Parallel()
	target := t.TempDir()
	link := filepath.Join(t.TempDir(), "home")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	c := NewFileCache(filepath.Join(link, "token_cache.json"), nil)
	defer c.Release()
	if err := c.Export(context.Background(), jsonMarshaler(`{"AccessToken":{}}`), cache.ExportHints{}); err != nil {
		t.Fatalf("Export under a linked directory: %v", err)
	}
	var u recordingUnmarshaler
	if err := c.Replace(context.Background(), &u, cache.ReplaceHints{}); err != nil || !bytes.Contains(u.got, []byte("AccessToken")) {
		t.Fatalf("Replace under a linked directory: %v, read %q", err, u.got)
	}
}

// TestCacheDirectoryWarnings: a cache directory the user chose that others can write (or that
// another user owns) is warned about once; a private one is not.
func TestCacheDirectoryWarnings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		chownTo  int // -1: keep the test's user
		wantWarn string
	}{
		{"private", 0o700, -1, ""},
		{"world-writable", 0o777, -1, "writable by other users"},
		{"group-writable", 0o770, -1, "writable by other users"},
		{"owned by another user", 0o700, 65534, "owned by another user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.chownTo >= 0 && os.Getuid() != 0 {
				t.Skip("changing a directory's owner needs root")
			}
			dir := filepath.Join(t.TempDir(), "c")
			if err := os.Mkdir(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			if tc.chownTo >= 0 {
				if err := os.Chown(dir, tc.chownTo, tc.chownTo); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			c := NewFileCache(filepath.Join(dir, "token_cache.json"), slog.New(slog.NewTextHandler(&logs, nil)))
			var u recordingUnmarshaler
			_ = c.Replace(context.Background(), &u, cache.ReplaceHints{})
			c.Release()
			_ = c.Replace(context.Background(), &u, cache.ReplaceHints{})
			c.Release()
			n := strings.Count(logs.String(), "level=WARN")
			switch {
			case tc.wantWarn == "" && n != 0:
				t.Errorf("unexpected warning: %s", logs.String())
			case tc.wantWarn != "" && (n != 1 || !strings.Contains(logs.String(), tc.wantWarn)):
				t.Errorf("want one warning saying %q, got: %s", tc.wantWarn, logs.String())
			}
		})
	}
}
