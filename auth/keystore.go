package auth

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/zalando/go-keyring"
)

// Where tokens rest: --cache-store.
const (
	// CacheStoreAuto encrypts the cache with a key in the OS store when there is one, else
	// keeps the 0600 file and says so once.
	CacheStoreAuto = "auto"
	// CacheStoreKeyring requires the OS store; without one, signing in fails.
	CacheStoreKeyring = "keyring"
	// CacheStoreFile keeps the cache in plain text in its 0600 file.
	CacheStoreFile = "file"
)

// ErrKeyNotFound is what a [KeyStore] returns for a secret it does not hold.
var ErrKeyNotFound = errors.New("no such secret in the OS store")

// KeyStore keeps small secrets in the operating system's credential store: the Secret
// Service over D-Bus (GNOME Keyring, KWallet) on Linux, the Keychain on macOS, the Credential
// Manager on Windows. Those stores hold little per item (about 2.5 KB in Credential Manager, 3
// KB in the Keychain), less than an MSAL cache with a few accounts, so only a 256-bit key is
// kept there and the cache itself stays on disk, encrypted with it.
type KeyStore interface {
	// Get returns the secret, or an error wrapping ErrKeyNotFound.
	Get(service, user string) (string, error)
	// Set stores the secret.
	Set(service, user, secret string) error
}

// OSKeyStore returns the OS credential store, through github.com/zalando/go-keyring (pure Go,
// so builds stay CGO_ENABLED=0; MSAL's own extensions module needs cgo on Linux and macOS).
// nil when this system has none that can work: on Linux and BSD without a D-Bus session bus
// (a headless server, CI), where asking would only fail, or autolaunch a bus daemon.
func OSKeyStore() KeyStore {
	switch runtime.GOOS {
	case "darwin", "windows":
		return osKeyStore{}
	}
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return nil
	}
	return osKeyStore{}
}

// osKeyStore is go-keyring.
type osKeyStore struct{}

func (osKeyStore) Get(service, user string) (string, error) {
	s, err := keyring.Get(service, user)
	if errors.Is(err, keyring.ErrNotFound) {
		return "", fmt.Errorf("%w: %w", ErrKeyNotFound, err)
	}
	return s, err
}

func (osKeyStore) Set(service, user, secret string) error { return keyring.Set(service, user, secret) }

// keyService is the service name of fastmcp-auth's items in the OS store.
const keyService = "fastmcp-auth"

// cacheKey returns the cache file's 256-bit key from store, creating and storing a random one
// on first use. The item is named after the cache file's absolute path, so two caches (a test
// cache, another --cache-file) never share a key.
func cacheKey(store KeyStore, cachePath string) ([]byte, error) {
	abs, err := filepath.Abs(cachePath)
	if err != nil {
		abs = cachePath
	}
	user := "token-cache-key:" + abs
	s, err := store.Get(keyService, user)
	if err == nil {
		key, derr := base64.StdEncoding.DecodeString(s)
		if derr != nil || len(key) != 32 {
			return nil, errors.New("the token cache key in the OS store is damaged")
		}
		return key, nil
	}
	if !errors.Is(err, ErrKeyNotFound) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := store.Set(keyService, user, base64.StdEncoding.EncodeToString(key)); err != nil {
		return nil, err
	}
	return key, nil
}

// encMagic starts an encrypted cache file. The rest is a 12-byte GCM nonce and the
// ciphertext of MSAL's JSON cache; the magic is the additional data, so a file cannot be
// passed off as another format version.
var encMagic = []byte("FASTMCP-AUTH-AESGCM-1\n")

// isEncrypted reports whether data is an encrypted cache file.
func isEncrypted(data []byte) bool { return bytes.HasPrefix(data, encMagic) }

// newGCM is AES-GCM under key (AES-256 with the 32-byte cache key).
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts the cache with AES-256-GCM under a fresh random nonce.
func seal(key, plain []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(append([]byte{}, encMagic...), nonce...)
	return gcm.Seal(out, nonce, plain, encMagic), nil
}

// unseal decrypts a sealed cache; an error means another key or a damaged file.
func unseal(key, data []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	rest := data[len(encMagic):]
	if len(rest) < gcm.NonceSize() {
		return nil, errors.New("the encrypted token cache is truncated")
	}
	return gcm.Open(nil, rest[:gcm.NonceSize()], rest[gcm.NonceSize():], encMagic)
}
