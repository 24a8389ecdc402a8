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
	running map[callKey][]auth.Caller
}

type callKey struct{ module, request string }

// enter records that moduleID is serving requestID for caller until done is called.
func (cs *calls) enter(moduleID, requestID string, caller auth.Caller) (done func()) {
	k := callKey{moduleID, requestID}
	cs.mu.Lock()
	if cs.running == nil {
		cs.running = map[callKey][]auth.Caller{}
	}
	cs.running[k] = append(cs.running[k], caller)
	cs.mu.Unlock()
	return func() {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		list := cs.running[k]
		for i, c := range list {
			if c == caller {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(cs.running, k)
		} else {
			cs.running[k] = list
		}
	}
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
	found := false
	for _, r := range cs.running[callKey{from, requestID}] {
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
