package devauthority

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside Config.StateDir.
const (
	caCertFile  = "ca.pem"          // the CA to trust (public)
	caKeyFile   = "ca-key.pem"      // 0600: signs the TLS leaf; kept so the leaf can be renewed
	tlsCertFile = "tls-cert.pem"    // the HTTPS leaf for 127.0.0.1, localhost, ::1
	tlsKeyFile  = "tls-key.pem"     // 0600
	signKeyFile = "signing-key.pem" // 0600: RS256 token signing key
)

const (
	// The CA lives ten years so that a trust decision (adding ca.pem somewhere) is made once;
	// the leaf a year, renewed at start-up, so a long-lived state directory never serves an
	// expired certificate.
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// leafRenewBefore renews the leaf this long before it expires, at start-up.
	leafRenewBefore = 30 * 24 * time.Hour
)

// keyMaterial is everything New loads from or creates in the state directory.
type keyMaterial struct {
	// caCert and caPEM are the CA to trust; tlsCert is the HTTPS leaf with its key; signKey
	// signs tokens and kid (its RFC 7638 thumbprint) names it in token headers and the key set.
	caCert  *x509.Certificate
	caPEM   []byte
	tlsCert tls.Certificate
	signKey *rsa.PrivateKey
	kid     string
}

// loadOrCreateState reads the CA, TLS leaf and signing key from dir, creating what is missing.
// The directory is created 0700 (and tightened to 0700 if it exists with wider permissions),
// because it holds private keys that would let anyone mint tokens the local servers accept.
func loadOrCreateState(dir string, now time.Time) (*keyMaterial, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("could not create state directory: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("could not read state directory: %w", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("could not restrict state directory to 0700: %w", err)
		}
	}
	km := &keyMaterial{}

	caKey, err := loadOrCreateECKey(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, err
	}
	km.caCert, km.caPEM, err = loadOrCreateCA(dir, caKey, now)
	if err != nil {
		return nil, err
	}
	leafKey, err := loadOrCreateECKey(filepath.Join(dir, tlsKeyFile))
	if err != nil {
		return nil, err
	}
	km.tlsCert, err = loadOrCreateLeaf(dir, km.caCert, caKey, leafKey, now)
	if err != nil {
		return nil, err
	}
	km.signKey, err = loadOrCreateRSAKey(filepath.Join(dir, signKeyFile))
	if err != nil {
		return nil, err
	}
	km.kid = keyID(&km.signKey.PublicKey)
	return km, nil
}

// keyID is the RFC 7638 JWK thumbprint of the public key: stable across restarts and
// unique per key, like Entra's kid values.
func keyID(pub *rsa.PublicKey) string {
	b64 := base64.RawURLEncoding.EncodeToString
	// Members in lexicographic order, no whitespace, as RFC 7638 requires.
	canon := `{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64(sum[:])
}

// loadOrCreateECKey reads the P-256 key at path or creates it. P-256 serves the CA and the
// TLS leaf: small, fast, and accepted by every TLS client.
func loadOrCreateECKey(path string) (*ecdsa.PrivateKey, error) {
	return loadOrCreateKey(path, "key", func() (*ecdsa.PrivateKey, error) {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
}

// loadOrCreateRSAKey reads the token signing key at path or creates it. RSA 2048 because
// Entra signs with RS256 and 2048-bit keys: verifiers tested here must meet what production
// sends them.
func loadOrCreateRSAKey(path string) (*rsa.PrivateKey, error) {
	return loadOrCreateKey(path, "signing key", func() (*rsa.PrivateKey, error) {
		return rsa.GenerateKey(rand.Reader, 2048)
	})
}

// loadOrCreateKey reads the PKCS #8 key of type K at path, or, when there is no file, makes
// one with generate (what names it in the error) and writes it. A file that exists but does
// not parse as a K is an error, not silently replaced, since replacing the CA key
// invalidates trust.
func loadOrCreateKey[K crypto.PrivateKey](path, what string, generate func() (K, error)) (K, error) {
	var zero K
	der, err := readPEM(path, "PRIVATE KEY")
	if err == nil {
		k, err := x509.ParsePKCS8PrivateKey(der)
		if key, ok := k.(K); err == nil && ok {
			return key, nil
		}
		return zero, fmt.Errorf("could not parse %s: remove it to create a new key", path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return zero, err
	}
	k, err := generate()
	if err != nil {
		return zero, fmt.Errorf("could not generate %s: %w", what, err)
	}
	return k, writeKey(path, k)
}

// writeKey stores a private key as PKCS #8 PEM, 0600 and atomically (see writeFileAtomic).
func writeKey(path string, k crypto.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return fmt.Errorf("could not encode key: %w", err)
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// loadOrCreateCA returns the CA certificate of caKey, reusing ca.pem while it matches the key
// and is unexpired. The CA is constrained to loopback names and may sign leaves only.
func loadOrCreateCA(dir string, caKey *ecdsa.PrivateKey, now time.Time) (*x509.Certificate, []byte, error) {
	path := filepath.Join(dir, caCertFile)
	if der, err := readPEM(path, "CERTIFICATE"); err == nil {
		cert, err := x509.ParseCertificate(der)
		if err == nil && publicKeysEqual(cert.PublicKey, &caKey.PublicKey) && now.Before(cert.NotAfter) {
			pemBytes, _ := os.ReadFile(path) // #nosec G304 -- our own state file
			return cert, pemBytes, nil
		}
		// A CA that no longer matches its key or has expired is replaced; the leaf follows.
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "fastmcp-auth development CA", Organization: []string{"fastmcp-auth dev-authority"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		// MaxPathLenZero: no intermediates, so even a stolen CA key makes only leaf certificates.
		// Name constraints: even if someone adds ca.pem to a system trust store, this CA can
		// only vouch for loopback names, never for a real site.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("could not create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// The CA certificate is public: 0644 so that other tools of the same user can read it.
	if err := writeFileAtomic(path, pemBytes, 0o644); err != nil {
		return nil, nil, err
	}
	// Remove a leaf signed by a previous CA so that it is re-issued.
	_ = os.Remove(filepath.Join(dir, tlsCertFile))
	return cert, pemBytes, nil
}

// loadOrCreateLeaf returns the HTTPS certificate for localhost, 127.0.0.1 and ::1, reusing
// tls-cert.pem while the current CA signed it, it matches leafKey and it is more than
// leafRenewBefore from expiry; otherwise it issues a new one.
func loadOrCreateLeaf(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, leafKey *ecdsa.PrivateKey, now time.Time) (tls.Certificate, error) {
	path := filepath.Join(dir, tlsCertFile)
	if der, err := readPEM(path, "CERTIFICATE"); err == nil {
		cert, err := x509.ParseCertificate(der)
		if err == nil && cert.CheckSignatureFrom(ca) == nil &&
			publicKeysEqual(cert.PublicKey, &leafKey.PublicKey) && now.Add(leafRenewBefore).Before(cert.NotAfter) {
			return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: leafKey, Leaf: cert}, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	// ExtKeyUsage is server authentication only: the leaf cannot act as a client certificate
	// or sign code.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("could not create TLS certificate: %w", err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: leafKey, Leaf: leaf}, nil
}

// publicKeysEqual reports whether a is the ECDSA public key b.
func publicKeysEqual(a crypto.PublicKey, b *ecdsa.PublicKey) bool {
	ea, ok := a.(*ecdsa.PublicKey)
	return ok && ea.Equal(b)
}

// randomSerial returns a random 127-bit serial number. Random serials make every certificate
// unique: browsers refuse a certificate whose issuer and serial repeat an earlier one with
// different contents, which a counter reset by a new state directory would cause.
func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

// readPEM returns the DER bytes of the first block of the given type in path.
func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- a file of our own state directory
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%s holds no %s PEM block: remove it to create a new one", path, typ)
		}
		if b.Type == typ {
			return b.Bytes, nil
		}
	}
}

// writeFileAtomic writes data to a temporary file in the same directory and renames it over
// path, so that a crash never leaves a half-written key and readers never see one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("could not write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	// CreateTemp makes the file 0600; perm is set before any byte is written, so a key is
	// never readable by others even for a moment.
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("could not write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("could not write %s: %w", path, err)
	}
	// Sync before rename: after a crash the new name holds the whole new content.
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("could not write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("could not write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("could not write %s: %w", path, err)
	}
	return nil
}
