package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeKeyStore is an OS credential store in memory, with the per-item size limit of Windows
// Credential Manager (2560 bytes) unless limit says otherwise, and an optional failure.
type fakeKeyStore struct {
	mu    sync.Mutex
	items map[string]string
	limit int
	fail  error // every call fails with it (a locked or absent store)
	sets  int
}

func newFakeKeyStore() *fakeKeyStore { return &fakeKeyStore{items: map[string]string{}, limit: 2560} }

func (f *fakeKeyStore) Get(service, user string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	v, ok := f.items[service+"\x00"+user]
	if !ok {
		return "", ErrKeyNotFound
	}
	return v, nil
}

func (f *fakeKeyStore) Set(service, user, secret string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if len(secret) > f.limit {
		return fmt.Errorf("secret of %d bytes exceeds the store's %d", len(secret), f.limit)
	}
	f.sets++
	f.items[service+"\x00"+user] = secret
	return nil
}

// signInWithStore builds a Login on the fake authority with the given key store and
// --cache-store mode, logging into logs.
func signInWithStore(t *testing.T, f *fakeAuthority, cacheFile string, store KeyStore, mode string, logs *bytes.Buffer) *Login {
	t.Helper()
	l, _ := newTestLogin(t, f, cacheFile, func(c *LoginConfig) {
		c.KeyStore = store
		c.CacheStore = mode
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	return l
}

// TestCacheEncryptedWithStoreKey: with an OS store, the cache file is AES-256-GCM encrypted
// (no token readable in it), the store holds only a 256-bit key within its item limit, a new
// process with the same store reads the cache back, and the file stays 0600.
func TestCacheEncryptedWithStoreKey(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	store := newFakeKeyStore()
	cacheFile := filepath.Join(t.TempDir(), "token_cache.json")
	var logs bytes.Buffer
	l := signInWithStore(t, f, cacheFile, store, CacheStoreAuto, &logs)
	ctx := testCtx(t)
	tok := deviceSignIn(t, ctx, l)
	data, err := os.ReadFile(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	if !isEncrypted(data) || bytes.Contains(data, []byte(tok.AccessToken)) || bytes.Contains(data, []byte("RefreshToken")) {
		t.Fatalf("the cache file is not encrypted: %.80q", data)
	}
	if fi, _ := os.Stat(cacheFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	for k, v := range store.items {
		if len(v) > store.limit || len(v) != 44 { // base64 of 32 bytes
			t.Errorf("store item %q holds %d bytes, want a 256-bit key (44 base64 bytes)", k, len(v))
		}
	}
	if len(data) <= store.limit {
		t.Logf("note: the cache (%d bytes) would have fit in one store item", len(data))
	}
	// Another process: same store, same file.
	l2 := signInWithStore(t, f, cacheFile, store, CacheStoreAuto, &logs)
	got, err := l2.Silent(ctx)
	if err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("Silent in a new process: %v", err)
	}
	// Without the key (a file-only process), the encrypted cache is refused, not destroyed.
	l3 := signInWithStore(t, f, cacheFile, nil, CacheStoreFile, &logs)
	if _, err := l3.Silent(ctx); !errors.Is(err, ErrCache) || !strings.Contains(err.Error(), "OS credential store") {
		t.Errorf("file-only Silent on an encrypted cache: %v, want a cache error naming the store", err)
	}
	if after, _ := os.ReadFile(cacheFile); !bytes.Equal(after, data) {
		t.Error("the encrypted cache was changed by a process without its key")
	}
}

// TestCachePlaintextMigrated: a plaintext cache from before is encrypted on first use with
// the store, with a notice, and stays usable.
func TestCachePlaintextMigrated(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	cacheFile := filepath.Join(t.TempDir(), "token_cache.json")
	var logs bytes.Buffer
	l := signInWithStore(t, f, cacheFile, nil, CacheStoreFile, &logs)
	ctx := testCtx(t)
	tok := deviceSignIn(t, ctx, l)
	if data, _ := os.ReadFile(cacheFile); isEncrypted(data) || !bytes.Contains(data, []byte(tok.AccessToken)) {
		t.Fatal("--cache-store file did not write the plain MSAL cache")
	}
	store := newFakeKeyStore()
	l2 := signInWithStore(t, f, cacheFile, store, CacheStoreAuto, &logs)
	got, err := l2.Silent(ctx)
	if err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("Silent after migration: %v", err)
	}
	if data, _ := os.ReadFile(cacheFile); !isEncrypted(data) {
		t.Error("the plaintext cache was not encrypted on first use")
	}
	if n := strings.Count(logs.String(), "token cache encrypted"); n != 1 {
		t.Errorf("migration notices: %d, want 1: %s", n, logs.String())
	}
}

// TestCacheWithoutStore: auto without a store keeps the 0600 file and says so once (per cache
// file, across processes); keyring without a store fails with a cache error; a bad mode is
// refused.
func TestCacheWithoutStore(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	cacheFile := filepath.Join(t.TempDir(), "token_cache.json")
	var logs bytes.Buffer
	broken := newFakeKeyStore()
	broken.fail = errors.New("the name org.freedesktop.secrets was not provided by any .service files")
	ctx := testCtx(t)
	for i := 0; i < 2; i++ { // two processes
		l := signInWithStore(t, f, cacheFile, broken, CacheStoreAuto, &logs)
		deviceSignIn(t, ctx, l)
	}
	if data, _ := os.ReadFile(cacheFile); isEncrypted(data) {
		t.Error("auto without a store encrypted the cache")
	}
	if n := strings.Count(logs.String(), "no OS credential store here"); n != 1 {
		t.Errorf("plain-file notices: %d, want exactly 1: %s", n, logs.String())
	}
	_, err := NewLogin(LoginConfig{Authority: f.URL(), ClientID: "c", Scopes: []string{"s"}, CacheFile: cacheFile, CacheStore: CacheStoreKeyring, KeyStore: broken})
	if !errors.Is(err, ErrCache) || !strings.Contains(err.Error(), "--cache-store file") {
		t.Errorf("keyring without a store: %v, want a cache error suggesting --cache-store file", err)
	}
	if _, err := NewLogin(LoginConfig{Authority: f.URL(), ClientID: "c", CacheFile: cacheFile, CacheStore: "vault"}); err == nil || errors.Is(err, ErrCache) {
		t.Errorf("bad --cache-store: %v, want a usage error", err)
	}
}

// TestStoreSizeLimit: the fake store refuses what a real one would (a whole cache), so the
// design of keeping only the key there is what makes the store usable.
func TestStoreSizeLimit(t *testing.T) {
	t.Parallel()
	store := newFakeKeyStore()
	if err := store.Set(keyService, "whole-cache", strings.Repeat("x", 6000)); err == nil {
		t.Fatal("the fake store accepted 6000 bytes; its limit is meant to match Credential Manager's")
	}
	key, err := cacheKey(store, filepath.Join(t.TempDir(), "c.json"))
	if err != nil || len(key) != 32 {
		t.Fatalf("cacheKey: %d bytes, %v", len(key), err)
	}
	again, err := cacheKey(store, filepath.Join(filepath.Dir(""), "other.json"))
	if err != nil || bytes.Equal(key, again) {
		t.Errorf("two cache files share a key (%v)", err)
	}
}
