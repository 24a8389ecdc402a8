package auth

import (
	"crypto/sha256"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// APIKey is one entry of the --api-keys file.
type APIKey struct {
	Key    string `json:"key"`
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

// APIKeys is the set of accepted API keys. Keys are held by their SHA-256 so a lookup is a map
// probe on a fixed-size digest rather than a string comparison whose timing depends on the key.
// A set never changes once parsed: a reload swaps in a new one (Authenticator.SetAPIKeys).
type APIKeys struct {
	byDigest map[[32]byte]Caller
}

// Len is the number of keys in the set.
func (k *APIKeys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.byDigest)
}

// LoadAPIKeys reads the --api-keys YAML (or JSON) file: a list of {key, user_id, role}.
func LoadAPIKeys(path string) (*APIKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	k, err := ParseAPIKeys(data)
	if err != nil {
		return nil, fmt.Errorf("api keys %s: %w", path, err)
	}
	return k, nil
}

// minAPIKeyLen refuses keys short enough to guess.
const minAPIKeyLen = 16

// ParseAPIKeys parses the API keys file content.
func ParseAPIKeys(data []byte) (*APIKeys, error) {
	var list []APIKey
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	k := &APIKeys{byDigest: make(map[[32]byte]Caller, len(list))}
	for i, e := range list {
		if len(e.Key) < minAPIKeyLen {
			return nil, fmt.Errorf("%w: entry %d: key must be at least %d characters", ErrBadConfig, i+1, minAPIKeyLen)
		}
		if e.UserID == "" {
			return nil, fmt.Errorf("%w: entry %d: user_id is required", ErrBadConfig, i+1)
		}
		c, err := ParseClearance(e.Role)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadConfig, i+1, err)
		}
		d := new([32]byte)
		*d = sha256.Sum256([]byte(e.Key))
		if _, dup := k.byDigest[*d]; dup {
			return nil, fmt.Errorf("%w: entry %d: duplicate key", ErrBadConfig, i+1)
		}
		// The caller remembers its key's digest (shared, not copied: a pointer keeps Caller
		// small), so that a session the key opened can be judged again after a reload.
		k.byDigest[*d] = Caller{UserID: e.UserID, Clearance: c, apiKey: d}
	}
	return k, nil
}

// Lookup finds the caller an API key belongs to.
func (k *APIKeys) Lookup(key string) (Caller, bool) {
	if k == nil {
		return Caller{}, false
	}
	c, ok := k.byDigest[sha256.Sum256([]byte(key))]
	return c, ok
}

func (k *APIKeys) empty() bool { return k.Len() == 0 }
