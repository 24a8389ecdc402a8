package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// SettingPath decodes a nested setting into v: "inputs.hdmi1.name" walks objects key by key.
// A missing key wraps ErrSettingNotFound and names how far the path got; a value of the wrong
// type wraps ErrBadSettings and names the full path.
func (b *Base) SettingPath(path string, v any) error {
	var cur json.RawMessage
	if err := b.Settings(&cur); err != nil {
		return err
	}
	keys := strings.Split(path, ".")
	for i, k := range keys {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil {
			return fmt.Errorf("%w: setting %q is not an object", ErrBadSettings, strings.Join(keys[:i], "."))
		}
		next, ok := obj[k]
		if !ok {
			return fmt.Errorf("setting %q: %w", strings.Join(keys[:i+1], "."), ErrSettingNotFound)
		}
		cur = next
	}
	if err := json.Unmarshal(cur, v); err != nil {
		return settingsError(path, err)
	}
	return nil
}

// SettingOr is Setting with a default: def is returned when the key is absent; a value of the
// wrong type is still an error.
func SettingOr[T any](b *Base, path string, def T) (T, error) {
	var v T
	err := b.SettingPath(path, &v)
	if errors.Is(err, ErrSettingNotFound) {
		return def, nil
	}
	if err != nil {
		return def, err
	}
	return v, nil
}
