package core

import (
	"sync"

	"github.com/placeos-go/engine/auth"
)

// calls remembers who each execute running on this node is for, so that a driver calling another
// module while it serves that execute acts with the original caller's clearance. The caller
// travels with the call itself: nothing is remembered about users between calls, and a driver
// can borrow no identity but that of a call it is serving right now.
type calls struct {
	mu      sync.Mutex
	running map[callKey]callers
}

type callKey struct{ module, request string }

// callers are the callers of the executes running under one key: almost always one, kept in
// the map entry itself so that entering and leaving allocate nothing.
type callers struct {
	first auth.Caller
	more  []auth.Caller // rare: several executes of one module share a request id
}

// enter records that moduleID is serving requestID for caller until leave is called with the
// same arguments.
func (cs *calls) enter(moduleID, requestID string, caller auth.Caller) {
	k := callKey{moduleID, requestID}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.running == nil {
		cs.running = map[callKey]callers{}
	}
	e, ok := cs.running[k]
	if !ok {
		cs.running[k] = callers{first: caller}
		return
	}
	e.more = append(e.more, caller)
	cs.running[k] = e
}

// leave forgets one entry of caller under (moduleID, requestID).
func (cs *calls) leave(moduleID, requestID string, caller auth.Caller) {
	k := callKey{moduleID, requestID}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	e, ok := cs.running[k]
	if !ok {
		return
	}
	switch {
	case e.first == caller && len(e.more) == 0:
		delete(cs.running, k)
		return
	case e.first == caller:
		e.first = e.more[0]
		e.more = e.more[1:]
	default:
		for i, c := range e.more {
			if c == caller {
				e.more = append(e.more[:i], e.more[i+1:]...)
				break
			}
		}
	}
	if len(e.more) == 0 {
		e.more = nil
	}
	cs.running[k] = e
}

// callerOf is the caller a driver acts for when module from calls another module during request
// requestID on behalf of userID. No user is the driver acting on its own (internal). A user the
// engine cannot tie to a call module from is serving now — the call has ended, or the driver
// names someone else — gets the lowest clearance. Request ids can be chosen by clients, so when
// calls of several callers share one, the lowest of their clearances applies.
func (cs *calls) callerOf(from, requestID, userID string) auth.Caller {
	if userID == "" {
		return auth.Caller{Clearance: auth.ClearanceInternal}
	}
	c := auth.Caller{UserID: userID, Clearance: auth.ClearanceUser}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	e, ok := cs.running[callKey{from, requestID}]
	if !ok {
		return c
	}
	found := false
	for _, r := range append([]auth.Caller{e.first}, e.more...) {
		if r.UserID != userID {
			continue
		}
		if !found || r.Clearance < c.Clearance {
			c.Clearance = r.Clearance
		}
		found = true
	}
	return c
}
