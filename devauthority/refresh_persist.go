package devauthority

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// refreshFile keeps the refresh store in Config.StateDir, so that a restart of the authority
// keeps cached sign-ins, as Entra does.
//
// It holds only the SHA-256 hashes of the refresh tokens, never the tokens: the hash is all
// the authority needs to look a presented token up, and a copy of the file (a backup, another
// tool of the same user reading the state directory) then gives nothing that can be redeemed.
// It is still 0600 in the 0700 state directory, because whoever can write it could add a
// live grant for a token of their choosing.
const refreshFile = "refresh_tokens.json"

// refreshFileVersion is the format version; a file of another version counts as damaged.
const refreshFileVersion = 1

// refreshFileData is the JSON form of a refreshStore. Entries are sorted by hash, so the file
// changes only where the store did.
type refreshFileData struct {
	Version int                `json:"version"`
	Live    []refreshFileGrant `json:"live"`
	Used    []refreshFileUsed  `json:"used"`
	Revoked []refreshFileEntry `json:"revoked"`
}

// refreshFileGrant is a live grant. Scope is the consented scope parameter as requested; the
// parsed request is derived again from it on load, so the file holds no derived state that
// could disagree with it.
type refreshFileGrant struct {
	Hash     string    `json:"hash"`
	ClientID string    `json:"client_id"`
	Scope    string    `json:"scope"`
	Family   string    `json:"family"`
	Expires  time.Time `json:"expires"`
}

// refreshFileUsed is a retired (rotated-out) token, kept to detect its reuse.
type refreshFileUsed struct {
	Hash    string    `json:"hash"`
	Family  string    `json:"family"`
	Expires time.Time `json:"expires"`
}

// refreshFileEntry is a revoked token, kept to answer "revoked" rather than "invalid".
type refreshFileEntry struct {
	Hash    string    `json:"hash"`
	Expires time.Time `json:"expires"`
}

// marshal prunes the expired entries and returns the store's file form.
func (s *refreshStore) marshal(now time.Time) ([]byte, error) {
	s.prune(now)
	d := refreshFileData{Version: refreshFileVersion, Live: []refreshFileGrant{}, Used: []refreshFileUsed{}, Revoked: []refreshFileEntry{}}
	for h, g := range s.live {
		d.Live = append(d.Live, refreshFileGrant{Hash: h, ClientID: g.clientID, Scope: g.scopes.echo(), Family: g.family, Expires: g.expires.UTC()})
	}
	for h, u := range s.used {
		d.Used = append(d.Used, refreshFileUsed{Hash: h, Family: u.family, Expires: u.until.UTC()})
	}
	for h, t := range s.revoked {
		d.Revoked = append(d.Revoked, refreshFileEntry{Hash: h, Expires: t.UTC()})
	}
	slices.SortFunc(d.Live, func(a, b refreshFileGrant) int { return strings.Compare(a.Hash, b.Hash) })
	slices.SortFunc(d.Used, func(a, b refreshFileUsed) int { return strings.Compare(a.Hash, b.Hash) })
	slices.SortFunc(d.Revoked, func(a, b refreshFileEntry) int { return strings.Compare(a.Hash, b.Hash) })
	return json.MarshalIndent(d, "", "  ")
}

// errDamaged marks a refresh file that cannot be used as it is.
var errDamaged = errors.New("damaged refresh token file")

// unmarshalRefreshStore rebuilds a store from its file form, leaving out expired entries.
// parse derives the consented scope request from its scope string; a grant whose scopes no
// longer parse (the API client ID or scopes changed since) is dropped, and counted in dropped.
func unmarshalRefreshStore(data []byte, now time.Time, parse func(string) (*scopeRequest, *oauthError)) (s *refreshStore, dropped int, err error) {
	var d refreshFileData
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", errDamaged, err)
	}
	if d.Version != refreshFileVersion {
		return nil, 0, fmt.Errorf("%w: version %d, want %d", errDamaged, d.Version, refreshFileVersion)
	}
	s = newRefreshStore()
	for _, g := range d.Live {
		if g.Hash == "" || g.Family == "" || g.Expires.IsZero() || !validClientID(g.ClientID) {
			return nil, 0, fmt.Errorf("%w: incomplete live grant", errDamaged)
		}
		if now.After(g.Expires) {
			continue
		}
		sr, oerr := parse(g.Scope)
		if oerr != nil || !sr.offline {
			dropped++
			continue
		}
		s.live[g.Hash] = &refreshGrant{clientID: g.ClientID, scopes: sr, family: g.Family, expires: g.Expires}
	}
	for _, u := range d.Used {
		if u.Hash == "" || u.Family == "" || u.Expires.IsZero() {
			return nil, 0, fmt.Errorf("%w: incomplete used token", errDamaged)
		}
		if !now.After(u.Expires) {
			s.used[u.Hash] = retired{family: u.Family, until: u.Expires}
		}
	}
	for _, r := range d.Revoked {
		if r.Hash == "" || r.Expires.IsZero() {
			return nil, 0, fmt.Errorf("%w: incomplete revoked token", errDamaged)
		}
		if !now.After(r.Expires) {
			s.revoked[r.Hash] = r.Expires
		}
	}
	return s, dropped, nil
}

// loadRefreshStore reads <StateDir>/refresh_tokens.json. It never fails: a missing file is an
// empty store, and a damaged one is renamed to refresh_tokens.json.corrupt-<unix time> (kept
// for inspection) with a warning, because losing cached sign-ins costs one device flow while
// refusing to start would block all development.
func (a *Authority) loadRefreshStore() *refreshStore {
	path := filepath.Join(a.cfg.StateDir, refreshFile)
	now := a.cfg.Now()
	data, err := os.ReadFile(path) // #nosec G304 -- a file of our own state directory
	if errors.Is(err, fs.ErrNotExist) {
		return newRefreshStore()
	}
	if err != nil {
		a.log.Warn("could not read refresh tokens: cached sign-ins end", "file", path, "err", err)
		return newRefreshStore()
	}
	s, dropped, err := unmarshalRefreshStore(data, now, func(scope string) (*scopeRequest, *oauthError) {
		return a.parseScopes(scope, "")
	})
	if err != nil {
		aside := path + ".corrupt-" + strconv.FormatInt(now.Unix(), 10)
		if rerr := os.Rename(path, aside); rerr != nil {
			a.log.Warn("refresh token file is damaged and could not be moved aside: cached sign-ins end", "file", path, "err", err, "rename_err", rerr)
		} else {
			a.log.Warn("refresh token file is damaged, moved aside: cached sign-ins end", "file", path, "moved_to", aside, "err", err)
		}
		return newRefreshStore()
	}
	if dropped > 0 {
		a.log.Info("dropped refresh grants whose scopes the API no longer has", "count", dropped)
	}
	a.log.Debug("refresh tokens loaded", "live", len(s.live), "used", len(s.used), "revoked", len(s.revoked))
	return s
}

// saveRefreshLocked writes the refresh store if it changed since the last save. Call it with
// a.mu held, after the change and before unlocking, so that saves happen in the order of the
// changes and an older state never overwrites a newer one. A failure is logged, not returned:
// the in-memory store is still right, so the grant is answered; only a restart would lose
// the change, and the next change retries the write.
func (a *Authority) saveRefreshLocked() {
	s := a.refresh
	if !s.dirty {
		return
	}
	path := filepath.Join(a.cfg.StateDir, refreshFile)
	data, err := s.marshal(a.cfg.Now())
	if err == nil {
		err = writeFileAtomic(path, data, 0o600)
	}
	if err != nil {
		a.log.Warn("could not save refresh tokens: a restart would end cached sign-ins", "file", path, "err", err)
		return
	}
	s.dirty = false
}
