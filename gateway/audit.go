package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// AuditLog writes one JSON line per tool call and denial (--audit-log). Arguments are left out
// unless withArgs: they may hold personal data or secrets the user pasted into a prompt.
type AuditLog struct {
	mu       sync.Mutex // one Write per line, so concurrent calls never interleave bytes
	f        *os.File
	withArgs bool
	onError  func(error)
}

// auditLine is the JSON form of one entry; its keys are the documented format.
type auditLine struct {
	Time       string         `json:"time"`
	Event      string         `json:"event"`
	Kind       string         `json:"kind,omitempty"`
	OID        string         `json:"oid"`
	TID        string         `json:"tid"`
	AZP        string         `json:"azp"`
	Tool       string         `json:"tool"`
	Rule       string         `json:"rule"`
	Decision   string         `json:"decision"`
	DurationMS float64        `json:"duration_ms"`
	Outcome    string         `json:"outcome"`
	Args       map[string]any `json:"args,omitempty"`
}

// OpenAuditLog opens (creating, mode 0600, or appending to) the audit file. onError receives
// write failures (nil ignores them); the calls themselves never fail because of the audit.
func OpenAuditLog(path string, withArgs bool, onError func(error)) (*AuditLog, error) {
	// Append, never truncate: an audit trail survives restarts. 0600: it names users and
	// what they did, which is for the operator's eyes only.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("could not open the audit log: %w", err)
	}
	return &AuditLog{f: f, withArgs: withArgs, onError: onError}, nil
}

// Record writes e as one line.
func (a *AuditLog) Record(e Event) {
	l := auditLine{
		Time:       e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Event:      e.Event,
		Tool:       e.Name,
		Rule:       e.Rule,
		Decision:   "allow",
		DurationMS: float64(e.Duration.Microseconds()) / 1000,
		Outcome:    e.Outcome,
	}
	// kind is written only for prompts and resources, so that the common line (a tool
	// call) stays as short as the documented format shows it.
	if e.Kind != "" && e.Kind != "tool" {
		l.Kind = string(e.Kind)
	}
	if !e.Allowed {
		l.Decision = "deny"
	}
	// Without a policy every call is allowed by no rule: said as "none", so a reader can
	// tell it from a rule that was looked up.
	if l.Rule == "" {
		l.Rule = "none"
	}
	if id := e.Identity; id != nil {
		// The user (oid, tid) and the client application (azp) the token names: who called,
		// and through what. Never the token itself.
		l.OID, l.TID, l.AZP = id.ObjectID, id.TenantID, id.ClientID
		if l.OID == "" {
			l.OID = id.Subject
		}
	}
	if a.withArgs {
		l.Args = e.Args
	}
	b, err := json.Marshal(l)
	if err != nil {
		// Arguments JSON decoded them, so they encode; keep the line without them if not.
		l.Args = nil
		b, _ = json.Marshal(l)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil && a.onError != nil {
		a.onError(err)
	}
}

// Close closes the file.
func (a *AuditLog) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
}
