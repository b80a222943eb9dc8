package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// ErrMetadataRefused is wrapped when a server's protected resource metadata cannot be trusted
// for a sign-in: its resource is not the server's URL ([RFC 9728] section 3.3), it names no
// authorization server, or the first one is not https. The CLI exits 3 on it.
//
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728#section-3.3
var ErrMetadataRefused = errors.New("the server's protected resource metadata was refused")

// ServerSignIn is how to sign in for one MCP server: what `login --server` found in its
// metadata, kept in servers.json so later commands with the same --server need no authority
// settings.
type ServerSignIn struct {
	// Authority is https://host/<tenant>, from the metadata's authorization_servers[0].
	Authority string `json:"authority"`
	// Scopes are the metadata's scopes_supported, as given.
	Scopes []string `json:"scopes,omitempty"`
	// ClientID is the public client the user signed in with.
	ClientID string `json:"client_id,omitempty"`
}

// resourceMetadata is the part of RFC 9728 section 2 a client needs.
type resourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// DiscoverServer reads the protected resource metadata of the MCP server at serverURL
// ([RFC 9728]): the URL in the resource_metadata parameter of the 401 challenge an
// unauthenticated request gets, else the well-known URL built from serverURL (section 3.1,
// then the host's root form). It refuses, wrapping [ErrMetadataRefused], metadata whose
// resource is not serverURL (section 3.3: otherwise a server could have the user sign in for
// another resource and receive its tokens) and an authorization server that is not https.
// An unreachable server wraps [ErrUnreachable].
//
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728
func DiscoverServer(ctx context.Context, client *http.Client, serverURL string) (*ServerSignIn, error) {
	if client == nil {
		client = http.DefaultClient
	}
	// Same-origin redirects only: metadata fetched from wherever a redirect points could name
	// an attacker's authority (the resource check would still catch most of it).
	c := *client
	c.CheckRedirect = netx.CheckRedirect
	client = &c
	su, err := url.Parse(serverURL)
	if err != nil || su.Host == "" || (su.Scheme != "https" && su.Scheme != "http") {
		return nil, fmt.Errorf("the server URL must be http(s)://host/path, not %q", serverURL)
	}
	var candidates []string
	if mu, err := challengeMetadataURL(ctx, client, serverURL); err != nil {
		return nil, err
	} else if mu != "" {
		candidates = append(candidates, mu)
	}
	root := su.Scheme + "://" + su.Host + "/.well-known/oauth-protected-resource"
	if p := strings.TrimRight(su.EscapedPath(), "/"); p != "" {
		candidates = append(candidates, root+p)
	}
	candidates = append(candidates, root)

	var md resourceMetadata
	var lastErr error
	found := ""
	for _, u := range candidates {
		md = resourceMetadata{}
		if err := getJSON(ctx, client, u, discoveryTimeout, &md); err != nil {
			if errors.Is(err, netx.ErrCrossOriginRedirect) {
				return nil, fmt.Errorf("%w: %w", ErrMetadataRefused, err)
			}
			if errors.Is(err, ErrUnreachable) {
				return nil, err
			}
			lastErr = err
			continue
		}
		found = u
		break
	}
	if found == "" {
		return nil, fmt.Errorf("%w: %s serves no protected resource metadata (RFC 9728): %w; give --authority or --tenant-id", ErrMetadataRefused, serverURL, lastErr)
	}
	if !sameResource(md.Resource, serverURL) {
		return nil, fmt.Errorf("%w: %s names the resource %q, not the server URL %q (RFC 9728 section 3.3): check --server, or give --authority or --tenant-id",
			ErrMetadataRefused, found, md.Resource, serverURL)
	}
	if len(md.AuthorizationServers) == 0 {
		return nil, fmt.Errorf("%w: %s lists no authorization_servers: give --authority or --tenant-id", ErrMetadataRefused, found)
	}
	authority, err := authorityOfIssuer(md.AuthorizationServers[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMetadataRefused, found, err)
	}
	return &ServerSignIn{Authority: authority, Scopes: md.ScopesSupported}, nil
}

// challengeMetadataURL sends an unauthenticated initialize to the server and returns the
// resource_metadata of its 401 Bearer challenge ("" when it gives none).
func challengeMetadataURL(ctx context.Context, client *http.Client, serverURL string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fastmcp-auth","version":"discovery"}}}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("could not reach the MCP server %s: %w: %w", serverURL, ErrUnreachable, netx.Cause(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return "", nil
	}
	return BearerChallenge(resp.Header.Get("WWW-Authenticate"))["resource_metadata"], nil
}

// sameResource compares a metadata resource with the server URL: identical, ignoring the
// case of scheme and host and a trailing slash.
func sameResource(resource, server string) bool {
	norm := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			return s
		}
		u.Scheme, u.Host = strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
		return u.String()
	}
	return resource != "" && norm(resource) == norm(server)
}

// authorityOfIssuer turns an authorization server (an Entra issuer) into the MSAL authority:
// https://host/<tenant>/v2.0 gives https://host/<tenant>; the v1 issuer
// https://sts.windows.net/<tenant>/ gives https://login.microsoftonline.com/<tenant>. It must be
// https: the authority decides which tokens the user gets, and plain http would let anyone on
// the path substitute their own.
func authorityOfIssuer(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("the authorization server %q is not a URL", issuer)
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("the authorization server %q is not https", issuer)
	}
	p := strings.Trim(u.Path, "/")
	p = strings.TrimSuffix(p, "/v2.0")
	if p == "" || strings.Contains(p, "/") {
		return "", fmt.Errorf("the authorization server %q is not an Entra-style issuer https://host/<tenant>[/v2.0]", issuer)
	}
	host := u.Host
	if strings.EqualFold(host, "sts.windows.net") {
		host = microsoftHosts[0]
	}
	return "https://" + host + "/" + p, nil
}

// serversFileName is the sign-in record of `login --server`, under <user config dir>/fastmcp-auth.
const serversFileName = "servers.json"

// DefaultServersFile returns <os.UserConfigDir()>/fastmcp-auth/servers.json.
func DefaultServersFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("could not find the user config directory: %w", err)
	}
	return filepath.Join(dir, cacheDirName, serversFileName), nil
}

// LookupServer returns the sign-in recorded for serverURL in the servers file, nil when there
// is none (or no file).
func LookupServer(path, serverURL string) (*ServerSignIn, error) {
	all, err := readServers(path)
	if err != nil {
		return nil, err
	}
	for k, v := range all {
		if sameResource(k, serverURL) {
			return &v, nil
		}
	}
	return nil, nil
}

// RecordServer stores the sign-in of serverURL in the servers file (0600 in a 0700 directory,
// written atomically). It holds no secret, but names the user's servers and tenants.
func RecordServer(path, serverURL string, s ServerSignIn) error {
	all, err := readServers(path)
	if err != nil {
		return err
	}
	if all == nil {
		all = map[string]ServerSignIn{}
	}
	for k := range all {
		if sameResource(k, serverURL) {
			delete(all, k)
		}
	}
	all[serverURL] = s
	return writeServers(path, all)
}

// ForgetServer removes the sign-in recorded for serverURL from the servers file, for
// `logout --server`. It reports whether there was one; no record (or no file) is not an error,
// since logout is idempotent.
func ForgetServer(path, serverURL string) (bool, error) {
	all, err := readServers(path)
	if err != nil {
		return false, err
	}
	found := false
	for k := range all {
		if sameResource(k, serverURL) {
			delete(all, k)
			found = true
		}
	}
	if !found {
		return false, nil
	}
	return true, writeServers(path, all)
}

// writeServers saves the servers file: 0600 in a 0700 directory, written atomically.
func writeServers(path string, all map[string]ServerSignIn) error {
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("could not save %s: %w", path, err)
	}
	if err := writeFileAtomic(path, append(data, '\n'), nil, nil); err != nil {
		return fmt.Errorf("could not save %s: %w", path, err)
	}
	return nil
}

// readServers reads the servers file; a missing file is an empty record.
func readServers(path string) (map[string]ServerSignIn, error) {
	if notLink(path) != nil {
		return nil, fmt.Errorf("%s is a symbolic link, which fastmcp-auth refuses to follow: remove it", path)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w", path, err)
	}
	var all map[string]ServerSignIn
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): remove it and run fastmcp-auth login --server again", path, err)
	}
	return all, nil
}
