package core

import (
	"bytes"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/metrics"
)

// MaxStatusSize, MaxStatuses and MaxStatusBytes bound what a driver may put into one module's
// statuses. Every status lives in Redis, in the hosting node's memory (the share it writes back
// after a Redis loss, and the gate's waiting values) and in every read of the module's state, so
// without a bound one driver could fill Redis and the node with a few large writes.
//
// 1 MiB a value holds what a real status carries — a day's booking list, a preset table, a
// matrix's routes — many times over; a file or a video frame does not belong in a status. 1,024
// names is far above the few dozen a device driver sets. 16 MiB for the whole module (names and
// values) is sixteen of the largest values, and keeps what a node's thousands of modules can cost
// it, and a client's read of one module's state, bounded.
//
// A value over MaxStatusSize is refused (InvalidArgument). Past MaxStatuses or MaxStatusBytes a
// write that adds a name or makes the module's statuses larger is refused (ResourceExhausted); an
// overwrite no larger than the value it replaces, and a delete, always pass, so a driver at the
// bound keeps its statuses current.
const (
	MaxStatusSize  = 1 << 20
	MaxStatuses    = 1024
	MaxStatusBytes = 16 << 20
)

// StatusesFullReason marks the refusal of a status past MaxStatuses or MaxStatusBytes (an
// errdetails.ErrorInfo reason), so that the SDK tells it from gRPC's own ResourceExhausted.
const StatusesFullReason = "STATUSES_FULL"

// statusRefusedWarnEvery spaces the WARN lines of one module's refused statuses: a driver that keeps
// setting them must not flood the log.
const statusRefusedWarnEvery = time.Minute

// statusTally is what a module's statuses hold as this node's writes made them: the size (name and
// value) of each by name, and their sum. It lives in the module's gate, under its lock, so a write
// takes no other lock to be counted. It starts empty when the module starts here, since
// OnModuleStart empties the module's status hash in Redis; between starts only this node writes it
// (writeStatus), so the tally is what Redis holds. A write counted that does not land (Redis
// refused it; the module is hosted elsewhere) only makes the tally larger than Redis.
type statusTally struct {
	sizes  map[string]int
	total  int
	warned time.Time // the last WARN about this module's refusals
}

// statusRefusal is a status write the module's bounds refused.
type statusRefusal struct {
	name         string
	size         int  // the value's
	names, total int  // the module's statuses before the write
	after        int  // their total bytes had the write passed
	tooLarge     bool // the value is over MaxStatusSize (else the module's statuses are full)
	tooMany      bool // a name past MaxStatuses (else past MaxStatusBytes)
	warn         bool // the first refusal of the module in statusRefusedWarnEvery
}

// take counts a write (nil value: a delete), or refuses it past the bounds.
func (t *statusTally) take(name string, value []byte, now time.Time) *statusRefusal {
	old, exists := t.sizes[name]
	if value == nil {
		if exists {
			delete(t.sizes, name)
			t.total -= old
		}
		return nil
	}
	size := len(name) + len(value)
	after := t.total - old + size
	tooLarge := len(value) > MaxStatusSize
	tooMany := !exists && len(t.sizes) >= MaxStatuses
	if tooLarge || tooMany || after > MaxStatusBytes && size > old {
		r := &statusRefusal{name: name, size: len(value), names: len(t.sizes), total: t.total, after: after,
			tooLarge: tooLarge, tooMany: tooMany}
		if now.Sub(t.warned) >= statusRefusedWarnEvery {
			t.warned, r.warn = now, true
		}
		return r
	}
	if t.sizes == nil {
		t.sizes = map[string]int{}
	}
	t.sizes[name] = size
	t.total = after
	return nil
}

// restart makes the tally what Redis holds once the module's status was cleared for its start:
// the values still waiting in the gate, which are written after the clear.
func (t *statusTally) restart(pending map[string][]byte) {
	clear(t.sizes)
	t.total = 0
	for name, v := range pending {
		if v != nil {
			t.take(name, v, time.Time{})
		}
	}
}

// statusRefused is the driver's answer to a refused write, logged (at most once a minute for the
// module) and counted.
func (c *Core) statusRefused(moduleID string, r *statusRefusal) error {
	driver := c.driverOf(moduleID)
	c.cfg.Metrics.DriverLimited(driver, metrics.DriverStatusRefused)
	if r.warn {
		c.log.Warn("a driver's status write refused: too large, or the module's statuses are full (further refusals for it are not logged for a minute)",
			"module", moduleID, "driver", driver, "status", r.name, "size", r.size, "statuses", r.names, "bytes", r.total,
			"max_size", MaxStatusSize, "max_statuses", MaxStatuses, "max_bytes", MaxStatusBytes)
	}
	if r.tooLarge {
		return status.Errorf(codes.InvalidArgument, "status %q of module %q is %d bytes, more than the %d a driver may set",
			r.name, moduleID, r.size, MaxStatusSize)
	}
	st := status.Newf(codes.ResourceExhausted,
		"status %q of module %q: the module's statuses would hold %d bytes, more than the %d a driver may set; set a smaller value, or delete statuses",
		r.name, moduleID, r.after, MaxStatusBytes)
	if r.tooMany {
		st = status.Newf(codes.ResourceExhausted,
			"status %q of module %q: the module has %d statuses, the most a driver may set; overwrite or delete one of them",
			r.name, moduleID, r.names)
	}
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: StatusesFullReason, Domain: "engine"}); err == nil {
		st = d
	}
	return st.Err()
}

// isJSONNull reports whether v, valid JSON, is null: the store deletes the status then.
func isJSONNull(v []byte) bool { return bytes.Equal(bytes.TrimSpace(v), jsonNull) }

var jsonNull = []byte("null")
