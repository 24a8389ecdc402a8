package main

import (
	"encoding/json"
	"os"
	"time"
)

// crashLater is mode "crash_later": a driver that starts its module, serves it for a while and
// then dies, in every process, as a driver that loses its device and panics. Settings:
// crash_after_ms is how long after the start (default 300); crash_while names a file, and the
// process crashes only while that file exists, so a test can end the crash loop by removing it.
func crashLater(settings []byte) {
	var s struct {
		AfterMS int    `json:"crash_after_ms"`
		While   string `json:"crash_while"`
	}
	_ = json.Unmarshal(settings, &s)
	if s.AfterMS <= 0 {
		s.AfterMS = 300
	}
	if s.While != "" {
		if _, err := os.Stat(s.While); err != nil {
			return // the file is gone: this process lives
		}
	}
	time.AfterFunc(time.Duration(s.AfterMS)*time.Millisecond, func() { os.Exit(9) })
}
