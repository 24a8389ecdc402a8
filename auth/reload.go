package auth

import (
	"errors"
	"fmt"
)

// ErrNoKeysToReload: SetAPIKeys under --auth none, where no credential is read at all.
var ErrNoKeysToReload = errors.New("--auth none reads no credentials: there are no API keys to reload")

// errNoKeyLeft: a new keys file that would turn every request away.
var errNoKeyLeft = errors.New("the file holds no key and bearer tokens are not accepted: every request would be refused")

// SetAPIKeys puts keys in force for every request from now on, then runs the OnAPIKeysChange
// hooks. Keys that would leave no way to authenticate (an empty set and no JWT verifier) are
// refused, as New refuses them, and the keys in force stay.
func (a *Authenticator) SetAPIKeys(keys *APIKeys) error {
	if a.cfg.Disabled {
		return ErrNoKeysToReload
	}
	if keys.empty() && a.cfg.JWT == nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, errNoKeyLeft)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys.Store(keys)
	for _, fn := range a.onChange {
		fn()
	}
	return nil
}

// ReloadAPIKeys reads the keys file at path again and puts it in force (SetAPIKeys). A file that
// cannot be read or fails any check is refused as a whole: the keys in force stay. It returns
// how many keys are in force now.
func (a *Authenticator) ReloadAPIKeys(path string) (int, error) {
	keys, err := LoadAPIKeys(path)
	if err == nil {
		err = a.SetAPIKeys(keys)
	}
	if err != nil {
		return a.keys.Load().Len(), err
	}
	return keys.Len(), nil
}

// OnAPIKeysChange registers fn to run after each SetAPIKeys, once the new keys are in force: the
// HTTP server ends there the WebSocket sessions Revoked now refuses.
func (a *Authenticator) OnAPIKeysChange(fn func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onChange = append(a.onChange, fn)
}

// Revoked reports whether a caller authenticated earlier by an API key would no longer be
// accepted as it is: its key is gone from the keys in force, belongs to another user now, or
// carries a lower role (a session checks each request with the clearance it opened with, so it
// must not keep a role its key lost). A higher role is no reason to end anything. Callers of
// any other credential are never revoked here (a bearer token ends at its expiry).
func (a *Authenticator) Revoked(c Caller) (why string, revoked bool) {
	if c.apiKey == nil {
		return "", false
	}
	var now Caller
	ok := false
	if keys := a.keys.Load(); keys != nil {
		now, ok = keys.byDigest[*c.apiKey]
	}
	switch {
	case !ok:
		return "API key removed", true
	case now.UserID != c.UserID:
		return "API key given to another user", true
	case now.Clearance < c.Clearance:
		return "API key's role lowered to " + now.Clearance.String(), true
	}
	return "", false
}
