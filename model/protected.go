package model

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/placeos-go/engine/auth"
)

// Level is how protected a group of settings is (PlaceOS's encryption levels). Plain `settings`
// are level none; `protected_settings` hold the three others (docs/protocol.md §2.5).
type Level string

// The levels, lowest first.
const (
	LevelNone           Level = "none"
	LevelSupport        Level = "support"
	LevelAdmin          Level = "admin"
	LevelNeverDisplayed Level = "never_displayed"
)

// protectedLevels are the levels protected_settings may name, in merge order: within one owner a
// later level wins over an earlier one, as in PlaceOS.
var protectedLevels = []Level{LevelSupport, LevelAdmin, LevelNeverDisplayed}

// ReadableBy reports whether a caller of clearance c may read values of the level. Nobody reads
// never_displayed values: only the module they are merged into receives them.
func (l Level) ReadableBy(c auth.Clearance) bool {
	switch l {
	case LevelNone:
		return true
	case LevelSupport:
		return c >= auth.ClearanceSupport
	case LevelAdmin:
		return c >= auth.ClearanceAdmin
	}
	return false
}

// Protected is one level of an entity's protected settings. In a model held by a store every
// value is sealed (a JSON string made by Keyring); in requests, model files and reads it is the
// plain value, or RedactedValue.
type Protected struct {
	Level    Level    `json:"level"`
	Settings Settings `json:"settings"`
}

// RedactedValue replaces every protected value a reader may not see. Written back (a model read
// and applied again), it keeps the value stored under the same entity, level and key, so a round
// trip never loses a secret the writer could not see.
const RedactedValue = "[redacted]"

var redactedJSON = json.RawMessage(`"` + RedactedValue + `"`)

func isRedacted(v json.RawMessage) bool {
	var s string
	return json.Unmarshal(v, &s) == nil && s == RedactedValue
}

// The entities that carry protected settings.

func (d *Driver) owner() (Kind, string)         { return KindDriver, d.ID }
func (d *Driver) protected() []Protected        { return d.ProtectedSettings }
func (d *Driver) setProtected(ps []Protected)   { d.ProtectedSettings = ps }
func (mod *Module) owner() (Kind, string)       { return KindModule, mod.ID }
func (mod *Module) protected() []Protected      { return mod.ProtectedSettings }
func (mod *Module) setProtected(ps []Protected) { mod.ProtectedSettings = ps }
func (s *System) owner() (Kind, string)         { return KindSystem, s.ID }
func (s *System) protected() []Protected        { return s.ProtectedSettings }
func (s *System) setProtected(ps []Protected)   { s.ProtectedSettings = ps }
func (z *Zone) owner() (Kind, string)           { return KindZone, z.ID }
func (z *Zone) protected() []Protected          { return z.ProtectedSettings }
func (z *Zone) setProtected(ps []Protected)     { z.ProtectedSettings = ps }

// protectedOwner is a pointer to an entity that carries protected settings.
type protectedOwner[T any] interface {
	*T
	owner() (Kind, string)
	protected() []Protected
	setProtected([]Protected)
}

// rewriteFunc turns one entity's protected settings into new ones, each value through fn.
type rewriteFunc func(kind Kind, id string, level Level, key string, v json.RawMessage) (json.RawMessage, error)

// rewrite applies fn to every protected value of e; it returns e itself when it has none (so
// entities without secrets stay shared), else a copy.
func rewrite[T any, P protectedOwner[T]](e *T, fn rewriteFunc) (*T, error) {
	ps := P(e).protected()
	if len(ps) == 0 {
		return e, nil
	}
	kind, id := P(e).owner()
	out := make([]Protected, len(ps))
	for i, p := range ps {
		s := make(Settings, len(p.Settings))
		for key, v := range p.Settings {
			nv, err := fn(kind, id, p.Level, key, v)
			if err != nil {
				return nil, fmt.Errorf("%s %q: protected setting %q (%s): %w", singular(kind), id, key, p.Level, err)
			}
			s[key] = nv
		}
		out[i] = Protected{Level: p.Level, Settings: s}
	}
	cp := *e
	P(&cp).setProtected(out)
	return &cp, nil
}

func rewriteMap[T any, P protectedOwner[T]](in map[string]*T, fn rewriteFunc) (map[string]*T, error) {
	out := make(map[string]*T, len(in))
	for k, e := range in {
		ne, err := rewrite[T, P](e, fn)
		if err != nil {
			return nil, err
		}
		out[k] = ne
	}
	return out, nil
}

func rewriteList[T any, P protectedOwner[T]](in []*T, fn rewriteFunc) ([]*T, error) {
	out := make([]*T, len(in))
	for i, e := range in {
		ne, err := rewrite[T, P](e, fn)
		if err != nil {
			return nil, err
		}
		out[i] = ne
	}
	return out, nil
}

// rewriteModel applies fn to every protected value of m, returning a new model.
func (m *Model) rewriteModel(fn rewriteFunc) (*Model, error) {
	out := m.Clone()
	var err error
	if out.Drivers, err = rewriteMap(m.Drivers, fn); err != nil {
		return nil, err
	}
	if out.Modules, err = rewriteMap(m.Modules, fn); err != nil {
		return nil, err
	}
	if out.Systems, err = rewriteMap(m.Systems, fn); err != nil {
		return nil, err
	}
	if out.Zones, err = rewriteMap(m.Zones, fn); err != nil {
		return nil, err
	}
	return out, nil
}

// rewriteFile applies fn to every protected value of f, returning a new file.
func (f *File) rewriteFile(fn rewriteFunc) (*File, error) {
	out := *f
	var err error
	if out.Drivers, err = rewriteList(f.Drivers, fn); err != nil {
		return nil, err
	}
	if out.Modules, err = rewriteList(f.Modules, fn); err != nil {
		return nil, err
	}
	if out.Systems, err = rewriteList(f.Systems, fn); err != nil {
		return nil, err
	}
	if out.Zones, err = rewriteList(f.Zones, fn); err != nil {
		return nil, err
	}
	return &out, nil
}

func singular(kind Kind) string { return strings.TrimSuffix(string(kind), "s") }

// protectedOf returns the stored protected settings of an entity (nil when it has none).
func (m *Model) protectedOf(kind Kind, id string) []Protected {
	e, ok := m.Get(kind, id)
	if !ok {
		return nil
	}
	if o, ok := e.(interface{ protected() []Protected }); ok {
		return o.protected()
	}
	return nil
}

// storedValue is the sealed value m holds for an entity's key at a level.
func (m *Model) storedValue(kind Kind, id string, level Level, key string) (json.RawMessage, bool) {
	for _, p := range m.protectedOf(kind, id) {
		if p.Level == level {
			v, ok := p.Settings[key]
			return v, ok
		}
	}
	return nil, false
}

// Seal returns a copy of f, a write about to be stored, with every protected value sealed by k.
// A value that is RedactedValue keeps the value cur (the stored model) holds for the same
// entity, level and key. It fails with ErrNoSecretsKey when f has protected settings and k is
// nil, so that a node without a key never stores a secret in clear. Sealing happens before a
// write is proposed, never in a store's Apply, which must stay deterministic. It first refuses
// ids and names past call.MaxIdentifierBytes (checkBounds): every write is sealed, and a refused
// one never reaches the Raft log.
func (f *File) Seal(cur *Model, k *Keyring) (*File, error) {
	if err := f.checkBounds(cur); err != nil {
		return nil, err
	}
	return f.rewriteFile(func(kind Kind, id string, level Level, key string, v json.RawMessage) (json.RawMessage, error) {
		if k == nil {
			return nil, ErrNoSecretsKey
		}
		if isRedacted(v) {
			stored, ok := cur.storedValue(kind, id, level, key)
			if !ok {
				return nil, fmt.Errorf("%w: %q keeps the stored value, but none is stored", ErrInvalid, RedactedValue)
			}
			return stored, nil
		}
		sealed, err := k.seal(valueAAD(kind, id, level, key), v)
		if err != nil {
			return nil, err
		}
		return json.Marshal(sealed)
	})
}

// CheckSealed verifies, without opening anything, that every protected value of f is sealed
// with k's key: what a leader checks before a write enters the Raft log, and a node checks of
// the state it opens, so that a node with another key (or none) is told at once.
func (f *File) CheckSealed(k *Keyring) error {
	_, err := f.rewriteFile(func(_ Kind, _ string, _ Level, _ string, v json.RawMessage) (json.RawMessage, error) {
		kid, err := sealedKeyID(v)
		switch {
		case err != nil:
			return nil, err
		case k == nil:
			return nil, fmt.Errorf("%w: the value is sealed with key %s", ErrNoSecretsKey, kid)
		case kid != k.ID():
			return nil, fmt.Errorf("%w: sealed with key %s, this node's key is %s (every node needs the same secrets key)", ErrSecretsKey, kid, k.ID())
		}
		return v, nil
	})
	return err
}

// sealedKeyID reads the key id of a sealed value (a JSON string).
func sealedKeyID(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%w: not a sealed value", ErrSecretsKey)
	}
	kid, _, err := parseSealed(s)
	return kid, err
}

// openValue opens one sealed protected value.
func openValue(k *Keyring, kind Kind, id string, level Level, key string, v json.RawMessage) (json.RawMessage, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("%w: not a sealed value", ErrSecretsKey)
	}
	plain, err := k.open(valueAAD(kind, id, level, key), s)
	if err != nil {
		return nil, err
	}
	if !json.Valid(plain) {
		return nil, fmt.Errorf("%w: the opened value is not JSON", ErrSecretsKey)
	}
	return plain, nil
}

// Redacted returns the model as a caller of clearance c may read it; every management read
// (lists, single entities, the model file, the entity a write echoes) goes through it.
// Protected values of a level the caller may read are opened with k; all others — never_displayed
// always, even for admins — become RedactedValue, keeping their keys so that the reader knows
// they are set. Below admin, credentials inside repository and module URIs are redacted too
// (RedactURI); below support, the settings of a protected ("_"-named) module too
// (redactProtectedModules).
func (m *Model) Redacted(c auth.Clearance, k *Keyring) (*Model, error) {
	out, err := m.rewriteModel(func(kind Kind, id string, level Level, key string, v json.RawMessage) (json.RawMessage, error) {
		if !level.ReadableBy(c) {
			return redactedJSON, nil
		}
		return openValue(k, kind, id, level, key, v)
	})
	if err != nil {
		return nil, err
	}
	out.redactProtectedModules(c)
	if c < auth.ClearanceAdmin {
		out.Repositories = redactURIs(out.Repositories, func(r *Repository) *string { return &r.URI })
		// A device's URI may carry its credentials (https://admin:PASS@display/api) as a
		// repository's does; only an admin, the one role that writes modules back, reads it whole.
		out.Modules = redactURIs(out.Modules, func(m *Module) *string { return &m.URI })
	}
	return out, nil
}

// redactURIs is entities with the URI uri points to in each redacted (RedactURI): the map and
// the entities it changes are copies, the others shared.
func redactURIs[T any](entities map[string]*T, uri func(*T) *string) map[string]*T {
	var out map[string]*T
	for id, e := range entities {
		if red := RedactURI(*uri(e)); red != *uri(e) {
			if out == nil {
				out = maps.Clone(entities)
			}
			cp := *e
			*uri(&cp) = red
			out[id] = &cp
		}
	}
	if out == nil {
		return entities
	}
	return out
}

// mergeOwner merges one owner's settings into out: plain settings first, then each protected
// level in ascending order, so that within an owner a higher level wins.
func mergeOwner(out Settings, k *Keyring, kind Kind, id string, plain Settings, ps []Protected) error {
	maps.Copy(out, plain)
	for _, level := range protectedLevels {
		for _, p := range ps {
			if p.Level != level {
				continue
			}
			for key, v := range p.Settings {
				plain, err := openValue(k, kind, id, level, key, v)
				if err != nil {
					return fmt.Errorf("%s %q: protected setting %q (%s): %w", singular(kind), id, key, level, err)
				}
				out[key] = plain
			}
		}
	}
	return nil
}

// SecretLevel is the highest level of the protected values merged into module mod (its own, its
// driver's, for a logic module its system's and zones'): LevelNone when it has none. A caller
// whose clearance cannot read that level may not read every value the module's driver knows.
func (m *Model) SecretLevel(mod *Module) Level {
	highest := LevelNone
	_ = m.settingOwners(mod, func(_ Kind, _ string, _ Settings, ps []Protected) error {
		for _, p := range ps {
			if len(p.Settings) > 0 && slices.Index(protectedLevels, p.Level) > slices.Index(protectedLevels, highest) {
				highest = p.Level
			}
		}
		return nil
	})
	return highest
}

// MinSecretLen is the shortest protected value Scrub hides: a shorter one (a digit, "on") would
// blank out ordinary words and numbers of the text it is hidden in.
const MinSecretLen = 4

// Secrets is the plain text of every protected value a module's settings hold (MergedSettings:
// its driver's, its system's and zones' for a logic module, its own), as a driver would print it
// (a JSON string's characters, another value's JSON text), in each of the other forms
// appendForms lists; true, false, null and values shorter than MinSecretLen are left out. A value
// k cannot open is an error, as in MergedSettings.
func (m *Model) Secrets(mod *Module, k *Keyring) ([]string, error) {
	var out []string
	err := m.settingOwners(mod, func(kind Kind, id string, _ Settings, ps []Protected) error {
		for _, p := range ps {
			for key, v := range p.Settings {
				plain, err := openValue(k, kind, id, p.Level, key, v)
				if err != nil {
					return fmt.Errorf("%s %q: protected setting %q (%s): %w", singular(kind), id, key, p.Level, err)
				}
				text := string(plain)
				var s string
				if json.Unmarshal(plain, &s) == nil {
					text = s
				}
				out = appendSecret(out, text)
				out = appendInner(out, plain)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, longestFirst)
	return slices.Compact(out), nil
}

// appendSecret appends text's forms (appendForms) to out, unless it is too short or a word of
// JSON to be a secret.
func appendSecret(out []string, text string) []string {
	if len(text) >= MinSecretLen && text != "true" && text != "false" && text != "null" {
		out = appendForms(out, text)
	}
	return out
}

// appendInner appends the strings and numbers inside plain, an object or a list at any depth,
// as secrets of their own: a value such as credentials: {username, password} is printed by a
// driver a member at a time, never as the JSON text of the whole. A string or number alone adds
// nothing (it is the value itself).
func appendInner(out []string, plain []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber() // a number as it is written, as a driver prints it
	var v any
	if dec.Decode(&v) != nil {
		return out
	}
	var walk func(v any, top bool)
	walk = func(v any, top bool) {
		switch v := v.(type) {
		case map[string]any:
			for _, e := range v {
				walk(e, false)
			}
		case []any:
			for _, e := range v {
				walk(e, false)
			}
		case string:
			if !top {
				out = appendSecret(out, v)
			}
		case json.Number:
			if !top {
				out = appendSecret(out, v.String())
			}
		}
	}
	walk(v, true)
	return out
}

// appendForms appends to out (without repeating one out holds) the forms a value may take in a
// driver's words: as it is; inside a JSON string (a driver's JSON log line), with HTML characters
// escaped (\u003c, as encoding/json writes them by default) or not; inside a JSON string inside a
// JSON string (a settings document logged as a field: escaped twice); URL-encoded as a query
// value (url.QueryEscape: an API key in `?key=`, which Go's HTTP client quotes in its errors) and
// as a path segment (url.PathEscape); and, for a value of several lines, each of its lines of
// MinSecretLen or more (a driver's plain stderr is read line by line). Other encodings (base64,
// hex, a hash) are not recognised: a driver must not print a secret in them.
func appendForms(out []string, text string) []string {
	if !slices.Contains(out, text) {
		out = append(out, text)
	}
	if plain(text) {
		return out // every other form is the same text
	}
	add := func(f string) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for _, s := range []string{text, jsonEscape(text, true), jsonEscape(text, false)} {
		add(jsonEscape(s, true))
		add(jsonEscape(s, false))
	}
	add(url.QueryEscape(text))
	add(url.PathEscape(text))
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if len(line) >= MinSecretLen {
			add(line)
		}
	}
	return out
}

// plain reports whether no form of text (appendForms) differs from it: it holds only what neither
// JSON nor a URL escapes.
func plain(text string) bool {
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// jsonEscape is s as it reads inside a JSON string, HTML characters escaped (\u003c) or not.
func jsonEscape(s string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s) // a string always encodes
	q := strings.TrimSuffix(b.String(), "\n")
	return q[1 : len(q)-1]
}

// longestFirst orders secrets so that one containing another is hidden whole.
func longestFirst(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) }

// Scrub is text with every one of secrets (the longest first), in any case of its ASCII letters,
// replaced by "[redacted]": a driver's error may quote the setting it choked on, and its text
// reaches callers who may not read that setting (docs/protocol.md §2.7). Text that holds none is
// returned as it is, without allocating.
func Scrub(text string, secrets []string) string {
	if !slices.IsSortedFunc(secrets, longestFirst) {
		secrets = slices.SortedFunc(slices.Values(secrets), longestFirst)
	}
	for _, s := range secrets {
		if i := indexFold(text, s); i >= 0 {
			text = replaceFold(text, s, i)
		}
	}
	return text
}
