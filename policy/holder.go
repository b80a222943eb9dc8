package policy

import (
	"sync/atomic"
)

// Holder holds the current policy and swaps it on reload; it is safe for concurrent use.
type Holder struct {
	path string
	// p is swapped whole: a request decided during a reload sees the old policy or the new
	// one, never a mix, and readers take no lock on the hot path.
	p atomic.Pointer[Policy]
}

// NewHolder loads path; the error is Load's.
func NewHolder(path string) (*Holder, error) {
	p, err := Load(path)
	if err != nil {
		return nil, err
	}
	h := &Holder{path: path}
	h.p.Store(p)
	return h, nil
}

// Current returns the policy in force; nil for a nil holder (everything allowed).
func (h *Holder) Current() *Policy {
	if h == nil {
		return nil
	}
	return h.p.Load()
}

// Reload reads the file again. On error the policy in force is kept, and the error says why.
func (h *Holder) Reload() error {
	// A file that does not compile must not leave the server without a policy (which would
	// allow everything) nor with a half-read one: the old policy stays until a good one loads.
	p, err := Load(h.path)
	if err != nil {
		return err
	}
	h.p.Store(p)
	return nil
}
