package main

import (
	"encoding/json"
	"os"
	"time"
)

// crashLater is mode "crash_later": a driver that starts its module, serves it for a while and
// then dies, in every process, as a driver that loses its device and panics. Settings:
// crash_after_ms is how long after the start (default 300); crash_while names a file, and the
// process dies only if that file exists when the time comes, so that a test ends the crash loop
// by removing it: the process then running lives on.
func crashLater(settings []byte) {
	var s struct {
		AfterMS int    `json:"crash_after_ms"`
		While   string `json:"crash_while"`
	}
	_ = json.Unmarshal(settings, &s)
	if s.AfterMS <= 0 {
		s.AfterMS = 300
	}
	time.AfterFunc(time.Duration(s.AfterMS)*time.Millisecond, func() {
		if s.While != "" {
			if _, err := os.Stat(s.While); err != nil {
				return
			}
		}
		os.Exit(9)
	})
}
