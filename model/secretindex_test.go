package model

import (
	"strings"
	"testing"
)

// TestSecretIndexScrubsAsScrub: the index hides exactly what Scrub with the same values hides —
// any ASCII case, overlapping values the longest first, several in one text, values shorter than
// the index's prefix — and leaves a text without any as it is.
func TestSecretIndexScrubsAsScrub(t *testing.T) {
	t.Parallel()
	var secrets []string
	for _, v := range []string{"hunter2-pass", "hunter2", "Proj3ctor!", `Kx9/Tq+7 z&W!`, "pin1", "abc"} {
		secrets = appendForms(secrets, v)
	}
	x := NewSecretIndex(secrets)
	for _, text := range []string{
		"",
		"nothing to hide here",
		"login refused for hunter2-pass",
		"LOGIN REFUSED FOR HUNTER2-PASS and hunter2 and HUNTER2",
		`{"settings":"{\"password\":\"Kx9/Tq+7 z\u0026W!\"}"}`,
		"url ?p=Kx9%2FTq%2B7+z%26W%21 then proj3ctor! and PIN1pin1",
		"abc at the end: xyzabc",
		"hunt",
		strings.Repeat("hunter", 50) + "2",
	} {
		if got, want := x.Scrub(text), Scrub(text, secrets); got != want {
			t.Errorf("index scrubs %q as %q; Scrub as %q", text, got, want)
		}
	}
	if got := NewSecretIndex([]string{"hunter2"}).Scrub("clean"); got != "clean" {
		t.Fatalf("a clean text: %q", got)
	}
	var nilIndex *SecretIndex
	if got := nilIndex.Scrub("hunter2"); got != "hunter2" {
		t.Fatalf("no index: %q", got)
	}
}
