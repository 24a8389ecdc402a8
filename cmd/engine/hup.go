package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/clustertls"
)

// reloadable is one thing SIGHUP reads again; it logs its own outcome, success or not.
type reloadable func(log hclog.Logger)

// reloader is certificate material that can be read again (the cluster's, the client API's).
type reloader interface{ Reload() error }

// certificates reads certificate material again; a failure keeps the material in use.
func certificates(r reloader) reloadable {
	return func(log hclog.Logger) {
		if err := r.Reload(); err != nil {
			log.Error("reloading certificates failed; keeping the ones in use", "error", err)
			return
		}
		if m, ok := r.(*clustertls.Material); ok {
			log.Info("cluster certificates reloaded", "expires", m.Expires())
		} else {
			log.Info("client API certificate reloaded")
		}
	}
}

// apiKeys reads the --api-keys file again (auth.Authenticator.ReloadAPIKeys): a file that fails
// any check is refused as a whole and the keys in force stay; a good one replaces them, and the
// sessions its keys no longer allow end (OnAPIKeysChange). The keys themselves are never logged.
func apiKeys(o *options, authn *auth.Authenticator) reloadable {
	return func(log hclog.Logger) {
		switch {
		case authn.Disabled():
			log.Info("SIGHUP: --auth none reads no API keys; nothing to reload")
			return
		case o.APIKeys == "":
			log.Info("SIGHUP: no --api-keys file; nothing to reload")
			return
		}
		n, err := authn.ReloadAPIKeys(o.APIKeys)
		if err != nil {
			log.Error("reloading the API keys failed; keeping the ones in force", "file", o.APIKeys, "keys", n, "error", err)
			return
		}
		if n == 0 {
			// Accepted (bearer tokens still authenticate), but an empty file is more often a
			// mistake than a wish to refuse every key.
			log.Warn("API keys reloaded: the file holds no keys, so every API key is refused now", "file", o.APIKeys)
			return
		}
		log.Info("API keys reloaded", "file", o.APIKeys, "keys", n)
	}
}

// reloadOnHUP reads certificates and API keys again on each SIGHUP, so they can be rotated or
// revoked without a restart. It is installed whatever the flags: without it Go's default for
// SIGHUP is to end the process, and an operator's `kill -HUP` must never stop a node. It returns
// the function that stops listening and waits for a reload under way.
func reloadOnHUP(log hclog.Logger, rs ...reloadable) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-done:
				return
			case <-ch:
				for _, r := range rs {
					r(log)
				}
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-ended
	}
}
