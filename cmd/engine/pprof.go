package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
)

// checkPprofAddr refuses a --pprof-addr other hosts could reach. The profiler has no
// authentication, and what it serves — goroutine stacks with their arguments, heap profiles, the
// command line — can carry secrets, so it listens on loopback only (reach it from elsewhere
// through an SSH tunnel). Called while the flags are read, before anything is created.
func checkPprofAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return errkind.Wrap(errNotLoopback, nil, "--pprof-addr %q: want a loopback host:port such as 127.0.0.1:6060 (%v)", addr, err)
	}
	switch ip := net.ParseIP(host); {
	case host == "localhost", ip != nil && ip.IsLoopback():
		return nil
	case host == "", ip != nil && ip.IsUnspecified():
		return errkind.Wrap(errNotLoopback, nil, "--pprof-addr %q listens on every interface: the profiler has no authentication, so give a loopback address such as 127.0.0.1:6060 (and an SSH tunnel to reach it from elsewhere)", addr)
	default:
		return errkind.Wrap(errNotLoopback, nil, "--pprof-addr %q is not loopback: the profiler has no authentication, so give localhost, 127.0.0.1 or [::1] (and an SSH tunnel to reach it from elsewhere)", addr)
	}
}

// servePprof serves the Go profiler on its own listener, never on the API address, so it is
// only reachable where the operator chose to put it: on loopback (checkPprofAddr).
func servePprof(addr string, log hclog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen %s: %w", addr, err)
	}
	// "localhost" is a name: make sure it did resolve to loopback here.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return nil, errkind.Wrap(errNotLoopback, nil, "--pprof-addr %q listened on %s, which is not loopback", addr, ln.Addr())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	// Timeouts as on the API; a profile or trace may run for up to the write timeout.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof listening", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
