package placement

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Labels are key=value pairs: a node's labels (engine serve --labels), or a placement constraint
// (`placement: {site: hq}` on a driver, system or module), which a node satisfies when it carries
// every pair of it.
type Labels map[string]string

// labelPattern is the syntax of keys and values: safe in flags, environment variables, JSON,
// metrics labels and log lines, and what Nomad and Kubernetes users type.
var labelPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62})$`)

const labelRule = "letters, digits, '_', '.' and '-', starting with a letter or digit, at most 63 characters"

// ParseLabels reads the --labels form: "site=hq,floor=3", spaces around commas and '=' allowed,
// an empty string meaning no labels. Empty keys or values, a key given twice and characters
// outside labelRule are refused with the part at fault.
func ParseLabels(s string) (Labels, error) {
	out := Labels{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("labels %q: an empty entry between commas; write key=value,key=value", s)
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("labels %q: %q has no '='; write key=value, e.g. site=hq", s, part)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if err := checkPair(k, v); err != nil {
			return nil, fmt.Errorf("labels %q: %w", s, err)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("labels %q: key %q is given twice", s, k)
		}
		out[k] = v
	}
	return out, nil
}

// Check reports the first key or value (in key order) outside labelRule.
func (l Labels) Check() error {
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if err := checkPair(k, l[k]); err != nil {
			return err
		}
	}
	return nil
}

func checkPair(k, v string) error {
	switch {
	case k == "":
		return fmt.Errorf("a label has an empty key (=%s)", v)
	case !labelPattern.MatchString(k):
		return fmt.Errorf("label key %q: use %s", k, labelRule)
	case v == "":
		return fmt.Errorf("label %q has an empty value", k)
	case !labelPattern.MatchString(v):
		return fmt.Errorf("label %s=%q: the value must use %s", k, v, labelRule)
	}
	return nil
}

// String is the canonical form, keys sorted: "floor=3,site=hq" ("" for none). Equal label sets
// have equal strings, so it also keys caches.
func (l Labels) String() string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
	}
	return b.String()
}

// Allows reports whether a node with labels node satisfies the constraint l (every pair of l is
// among node's). An empty constraint allows every node.
func (l Labels) Allows(node Labels) bool {
	for k, v := range l {
		if node[k] != v {
			return false
		}
	}
	return true
}

// UnmarshalJSON takes an object of scalars: a number or boolean counts as its text, as a model
// file's `placement: {floor: 3}` means floor=3 (YAML turns the 3 into a number).
func (l *Labels) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("placement must be an object of label: value, e.g. {\"site\": \"hq\"}: %w", err)
	}
	if raw == nil {
		*l = nil
		return nil
	}
	out := make(Labels, len(raw))
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) != nil {
			var f json.Number
			var bv bool
			switch {
			case json.Unmarshal(v, &f) == nil:
				s = f.String()
			case json.Unmarshal(v, &bv) == nil:
				s = strconv.FormatBool(bv)
			default:
				return fmt.Errorf("placement %q: want a string, number or boolean, not %s", k, v)
			}
		}
		out[k] = s
	}
	*l = out
	return nil
}
