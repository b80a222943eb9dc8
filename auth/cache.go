package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/gofrs/flock"
)

// ErrCache is wrapped by failures to read, lock or write the token cache file (as opposed to
// sign-in failures): the CLI reports them with exit 1 and the path at fault.
var ErrCache = errors.New("token cache")

// cacheDirName is the directory of fastmcp-auth under the user cache directory.
const cacheDirName = "fastmcp-auth"

// cacheFileName is the token cache file name inside it.
const cacheFileName = "token_cache.json"

// lockWait bounds how long an operation waits for another process holding the cache lock.
// Holders keep it for one MSAL operation (at most a refresh round trip), so a long wait means
// a stuck process; failing with a message beats hanging forever.
const lockWait = 60 * time.Second

// DefaultCacheFile returns <os.UserCacheDir()>/fastmcp-auth/token_cache.json, the token
// cache shared by every fastmcp-auth command of the user.
func DefaultCacheFile() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("could not find the user cache directory (set --cache-file): %w", err)
	}
	return filepath.Join(dir, cacheDirName, cacheFileName), nil
}

// FileCache is the MSAL token cache kept in one JSON file (MSAL's shared cache schema). It
// implements [cache.ExportReplace].
//
// The file holds refresh tokens in plain text, so it is written with mode 0600 inside a
// directory created with mode 0700, and always atomically (temporary file in the same
// directory, fsync, rename): a reader never sees half a file, and a failed write (read-only
// directory, full disk) leaves the previous cache intact.
//
// Several fastmcp-auth processes may share the file (concurrent `call`s, a refresh). MSAL
// reads the file (Replace), changes its memory copy and writes it back (Export); two
// interleaved read-modify-write cycles would lose a rotated refresh token. So the first
// Replace or Export of an operation takes an exclusive flock on the sibling file
// "<path>.lock", and the caller holds it until [FileCache.Release] at the end of the
// operation (gofrs/flock: flock on Unix, LockFileEx on Windows). A damaged file is moved aside to "<path>.corrupt-<timestamp>" with a warning,
// so that neither the user's data nor the command is lost.
type FileCache struct {
	path     string
	lockPath string
	logger   *slog.Logger

	// ownDir is set when the directory is fastmcp-auth's own (the default location): it is
	// then forced to 0700 even if something else created it more open. A directory named by
	// --cache-file may be shared (/tmp), so it is never changed.
	ownDir bool

	mu   sync.Mutex   // guards lock
	lock *flock.Flock // held lock, nil when not held

	dirChecked sync.Once // the directory's owner and mode are checked once per process

	// key encrypts the file (AES-256-GCM) when set: see UseStore.
	key []byte
	// plainNotice asks for the one-time notice that tokens rest in plain text (auto mode
	// without an OS store).
	plainNotice bool

	// Seams for tests that simulate a read-only directory or a full disk (root ignores
	// permission bits, so chmod cannot simulate them). Nil means the os functions.
	createTemp func(dir, pattern string) (*os.File, error)
	write      func(f *os.File, data []byte) error
}

// NewFileCache returns the cache kept in path. A nil logger discards the warnings.
func NewFileCache(path string, logger *slog.Logger) *FileCache {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &FileCache{path: path, lockPath: path + ".lock", logger: logger}
	if def, err := DefaultCacheFile(); err == nil && filepath.Dir(def) == filepath.Dir(filepath.Clean(path)) {
		c.ownDir = true
	}
	return c
}

// UseStore chooses where the tokens rest (--cache-store): with [CacheStoreAuto] or
// [CacheStoreKeyring] and an OS store, the file is encrypted with AES-256-GCM under a random
// 256-bit key kept in store (created on first use; a plaintext cache is encrypted on its next
// read, with a notice). The decrypted content stays MSAL's format. Without a store (nil), auto
// keeps the plain 0600 file and says so once, and keyring fails. [CacheStoreFile] keeps the
// plain file.
func (c *FileCache) UseStore(mode string, store KeyStore) error {
	switch mode {
	case CacheStoreFile:
		return nil
	case "", CacheStoreAuto, CacheStoreKeyring:
	default:
		return fmt.Errorf("--cache-store must be auto, keyring or file, not %q", mode)
	}
	var err error
	if store == nil {
		err = errors.New("this system has no OS credential store that can be used (on Linux: no D-Bus session with a Secret Service such as GNOME Keyring)")
	} else {
		c.key, err = cacheKey(store, c.path)
	}
	if err == nil {
		return nil
	}
	if mode == CacheStoreKeyring {
		return fmt.Errorf("could not use the OS credential store for the %w: %w: use --cache-store file or auto", ErrCache, err)
	}
	c.logger.Debug("no OS credential store: the token cache stays a plain 0600 file", "err", err)
	c.plainNotice = true
	return nil
}

// noticePlain says once per cache file (a marker file "<path>.plain" remembers it) that the
// tokens rest in plain text, protected by the file's mode only.
func (c *FileCache) noticePlain() {
	c.plainNotice = false
	if err := c.ensureDir(); err != nil {
		return
	}
	// O_EXCL: created only once, and never through a planted link.
	f, err := os.OpenFile(c.path+".plain", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return
	}
	_ = f.Close()
	c.logger.Info("no OS credential store here: tokens rest in a plain file readable only by you (mode 0600); this is said once", "path", c.path)
}

// Path returns the cache file's path.
func (c *FileCache) Path() string { return c.path }

// Replace loads the file into MSAL's in-memory cache (cache.ExportReplace). A missing or
// empty file is an empty cache. A file that does not parse is moved aside with a warning and
// treated as empty: the user signs in again instead of being stuck, and the old file stays
// available for inspection.
func (c *FileCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	data, err := c.read()
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(bytes.TrimSpace(data)) == 0) {
		// Replace the memory copy as well: the file is the truth, and another process may
		// have signed out since this one last read it.
		return u.Unmarshal([]byte("{}"))
	}
	if errors.Is(err, ErrCache) {
		return err
	}
	if err != nil {
		return fmt.Errorf("could not read the %w %s: %w", ErrCache, c.path, err)
	}
	migrate := false
	switch {
	case isEncrypted(data) && c.key == nil:
		// Not moved aside: the OS store may only be locked or unreachable for now.
		return fmt.Errorf("the %w %s is encrypted with a key kept in the OS credential store, which this command cannot use: "+
			"unlock the store (or run with --cache-store keyring to see why), or remove the file and sign in again", ErrCache, c.path)
	case isEncrypted(data):
		plain, derr := unseal(c.key, data)
		if derr != nil {
			return c.moveAside(u, "token cache could not be decrypted (the key in the OS store changed): moved it aside, sign in again")
		}
		data = plain
	case c.key != nil:
		migrate = true // a plaintext cache from before: encrypted below, once it parses
	}
	if err := u.Unmarshal(data); err != nil {
		return c.moveAside(u, "token cache file was damaged: moved it aside, sign in again")
	}
	if migrate {
		if err := c.save(data); err != nil {
			return err
		}
		c.logger.Info("token cache encrypted with a key kept in the OS credential store (it was plain text)", "path", c.path)
	}
	return nil
}

// moveAside renames a cache that cannot be read to "<path>.corrupt-<timestamp>", warns, and
// starts from an empty cache: the user signs in again instead of being stuck, and the old file
// stays available for inspection.
func (c *FileCache) moveAside(u cache.Unmarshaler, msg string) error {
	{
		aside := fmt.Sprintf("%s.corrupt-%s", c.path, time.Now().UTC().Format("20060102T150405.000000000Z"))
		if rerr := os.Rename(c.path, aside); rerr != nil {
			return fmt.Errorf("the %w %s is damaged and could not be moved aside (%v): remove it and sign in again", ErrCache, c.path, rerr)
		}
		// The parse error is not logged: encoding/json may quote part of the input, and
		// the input holds tokens.
		c.logger.Warn(msg, "path", c.path, "moved_to", aside)
		return u.Unmarshal([]byte("{}"))
	}
}

// Export writes MSAL's in-memory cache to the file atomically (cache.ExportReplace).
func (c *FileCache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	if err := c.acquire(ctx); err != nil {
		return err
	}
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("could not encode the %w: %w", ErrCache, err)
	}
	return c.save(data)
}

// save writes MSAL's cache data to the file atomically, encrypted when a key is set.
func (c *FileCache) save(data []byte) error {
	if c.key != nil {
		sealed, err := seal(c.key, data)
		if err != nil {
			return fmt.Errorf("could not encrypt the %w: %w", ErrCache, err)
		}
		data = sealed
	}
	if err := c.writeAtomic(data); err != nil {
		if errors.Is(err, errLink) {
			return c.linkError(c.path)
		}
		hint := "make its directory writable or choose another --cache-file"
		if errors.Is(err, syscall.ENOSPC) {
			hint = "free some disk space or choose another --cache-file"
		}
		return fmt.Errorf("could not save the %w %s (the previous one is unchanged): %w: %s", ErrCache, c.path, err, hint)
	}
	if c.plainNotice {
		c.noticePlain()
	}
	return nil
}

// writeAtomic writes the cache file atomically (writeFileAtomic), in its directory created
// or tightened by ensureDir.
func (c *FileCache) writeAtomic(data []byte) error {
	if err := c.ensureDir(); err != nil {
		return err
	}
	return writeFileAtomic(c.path, data, c.createTemp, c.write)
}

// writeFileAtomic writes data to a temporary file next to path, syncs it and renames it over
// path, then syncs the directory so the rename survives a crash: a reader never sees half a
// file, and a failed write leaves the previous file intact. The file is 0600 from its
// creation. createTemp and write are test seams; nil means the os functions.
func writeFileAtomic(path string, data []byte, createTemp func(dir, pattern string) (*os.File, error), write func(f *os.File, data []byte) error) (err error) {
	dir := filepath.Dir(path)
	if createTemp == nil {
		createTemp = os.CreateTemp
	}
	// os.CreateTemp makes the file 0600 from the start, so the secrets are never readable
	// by others, not even for a moment; it opens with O_CREATE|O_EXCL, which fails on an
	// existing name, a symbolic link included, so the temporary file is never a planted link.
	f, err := createTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if write == nil {
		write = func(f *os.File, b []byte) error { _, err := f.Write(b); return err }
	}
	if err = write(f, data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	// A link planted at the path since it was read would be replaced by the rename (its
	// target is safe), but the user's intent is unclear: refuse, as reading does.
	if err = notLink(path); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// ensureDir creates the cache directory with mode 0700 when it is missing. An existing
// directory is left as it is, unless it is fastmcp-auth's own (see ownDir).
func (c *FileCache) ensureDir() error {
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if c.ownDir {
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// acquire takes the cross-process lock unless this cache already holds it. It waits for
// another holder until ctx ends or lockWait passes. When the lock file cannot be created (a
// read-only directory), it goes on without the lock: reading is still safe because writers
// rename whole files, and any write will fail with a clear error anyway. A lock file that is
// a symbolic link is refused: opening it with O_CREATE would create or truncate the file it
// names, wherever that is.
func (c *FileCache) acquire(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock != nil {
		return nil
	}
	if err := c.ensureDir(); err != nil {
		c.logger.Debug("token cache lock unavailable, going on without it", "path", c.lockPath, "err", err)
		return nil
	}
	c.dirChecked.Do(c.checkDir)
	if err := notLink(c.lockPath); err != nil {
		return c.linkError(c.lockPath)
	}
	// noFollow: a link planted between the check and the open still fails (ELOOP).
	fl := flock.New(c.lockPath, flock.SetFlag(os.O_RDWR|os.O_CREATE|noFollow), flock.SetPermissions(0o600))
	deadline := time.Now().Add(lockWait)
	delay := 2 * time.Millisecond
	for {
		ok, err := fl.TryLock()
		var pe *fs.PathError
		switch {
		case ok:
			c.lock = fl
			return nil
		case err != nil && isLinkError(err):
			return c.linkError(c.lockPath)
		case errors.As(err, &pe) && pe.Op == "open":
			c.logger.Debug("token cache lock unavailable, going on without it", "path", c.lockPath, "err", err)
			return nil
		case err != nil:
			return fmt.Errorf("could not lock the %w %s: %w", ErrCache, c.lockPath, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the %w %s stays locked by another fastmcp-auth process: try again, or end that process", ErrCache, c.path)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// errLink marks a path refused for being a symbolic link (or a Windows reparse point).
var errLink = errors.New("symbolic link")

// notLink returns errLink when path exists and is a link. Links in the directories above are
// fine (macOS /var, symlinked home directories): only the last component is checked.
func notLink(path string) error {
	fi, err := os.Lstat(path)
	if err == nil && isLink(fi) {
		return errLink
	}
	return nil
}

// linkError is the error for a cache or lock path that is a link.
func (c *FileCache) linkError(path string) error {
	return fmt.Errorf("the %w path %s is a symbolic link, which fastmcp-auth refuses to follow "+
		"(another user may have planted it): remove it, or set --cache-file to a path that is not a link", ErrCache, path)
}

// read reads the cache file, refusing a link as its last component.
func (c *FileCache) read() ([]byte, error) {
	if notLink(c.path) != nil {
		return nil, c.linkError(c.path)
	}
	f, err := os.OpenFile(c.path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		if isLinkError(err) {
			return nil, c.linkError(c.path)
		}
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// checkDir warns once when a cache directory the user chose can be written by other users or
// belongs to another user: whoever can write it can replace the cache with their own tokens
// (the user would then act as them) or delete it. fastmcp-auth's own directory is forced to
// 0700 instead (ensureDir), so it is not checked.
func (c *FileCache) checkDir() {
	if c.ownDir {
		return
	}
	dir := filepath.Dir(c.path)
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	switch {
	case foreignOwner(fi):
		c.logger.Warn("the token cache directory is owned by another user, who can replace or read the cache: choose a directory of your own with --cache-file", "dir", dir)
	case fi.Mode().Perm()&0o022 != 0:
		c.logger.Warn("the token cache directory is writable by other users, who can replace the cache: make it private (chmod 700) or choose another --cache-file", "dir", dir, "mode", fi.Mode().Perm())
	}
}

// Release drops the cross-process lock taken by the operation's first Replace or Export, if
// any. Call it when an MSAL operation (Accounts plus AcquireTokenSilent, a device-code
// login, RemoveAccount) has finished.
func (c *FileCache) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock == nil {
		return
	}
	// Unlock also closes the descriptor.
	_ = c.lock.Unlock()
	c.lock = nil
}
