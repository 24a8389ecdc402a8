package metadata

import (
	"sort"
	"strconv"
	"strings"
)

// listAtMost is how many function names a hint lists in full; a driver with more gets a count,
// which keeps an error message readable.
const listAtMost = 12

// UnknownFunctionHint is what follows "could not find function <fn>" in the answer to a call of
// a function the driver does not have (functions: the driver's names, in declaration order), in
// parentheses: the names fn was probably meant to be, and the functions there are. Wire names
// are snake_case (SwitchTo is switch_to), so a name that differs only in case or underscores is
// suggested with that rule; otherwise names a typo or two away.
func UnknownFunctionHint(fn string, functions []string) string {
	if len(functions) == 0 {
		return " (the module has no functions)"
	}
	var parts []string
	key := foldName(fn)
	var same []string
	for _, name := range functions {
		if foldName(name) == key {
			same = append(same, name)
		}
	}
	if len(same) > 0 {
		parts = append(parts, "did you mean "+strings.Join(same, " or ")+"? function names are snake_case;")
	} else if near := nearNames(key, functions); len(near) > 0 {
		parts = append(parts, "did you mean "+strings.Join(near, " or ")+"?")
	}
	if len(functions) <= listAtMost {
		parts = append(parts, "functions: "+strings.Join(functions, ", "))
	} else {
		parts = append(parts, "the module has "+strconv.Itoa(len(functions))+" functions")
	}
	return " (" + strings.Join(parts, " ") + ")"
}

// foldName is a name without case and underscores: SwitchTo, switchTo and switch_to are one.
func foldName(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "_", "")
}

// nearNames are the (at most three) names within a couple of edits of key, a folded name,
// nearest first: a typo, not a different word (at most half of key's letters may change).
func nearNames(key string, functions []string) []string {
	type cand struct {
		name string
		dist int
	}
	limit := min(2, len(key)/2)
	var cs []cand
	for _, name := range functions {
		if d := editDistance(key, foldName(name)); d <= limit {
			cs = append(cs, cand{name, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].dist < cs[j].dist })
	out := make([]string, 0, min(len(cs), 3))
	for _, c := range cs[:min(len(cs), 3)] {
		out = append(out, c.name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, by byte (names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
