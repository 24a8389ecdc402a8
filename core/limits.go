package core

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/tokens"
	"github.com/placeos-go/engine/metrics"
)

// Limits bound what one driver may ask of the node, so that a buggy or hostile driver slows only
// its own modules (docs/protocol.md, "Driver limits"). A zero field takes its default; a negative
// rate or count switches that limit off.
type Limits struct {
	// StatusRate is how many status writes per second one module may make before its writes are
	// coalesced: over the rate the latest value of each status is kept and written when the
	// bucket refills, so intermediate values are dropped and the last one always lands.
	StatusRate float64
	// CallRate is how many driver-to-driver calls per second one driver may make (all its
	// modules together); calls over it are refused with 429 TooMany.
	CallRate float64
	// MaxSubscriptions is how many status subscriptions and channel monitors one driver may
	// hold open at once (all its modules together); more are refused.
	MaxSubscriptions int
	// SettingRate is how many settings per second one driver may save (all its modules
	// together); saves over it are refused with 429 TooMany. Each is a Raft write.
	SettingRate float64
}

// The default limits: far above what a well-behaved driver does (the SDK coalesces status writes
// itself; a display sets a few statuses a second), far below what hurts the node.
const (
	DefaultStatusRate       = 200
	DefaultCallRate         = 200
	DefaultMaxSubscriptions = 1000
	// DefaultSettingRate: a driver saves a setting when a user changes a preset or the device
	// reports a new configuration, not many times a second.
	DefaultSettingRate = 10
	// BurstSeconds: every bucket holds this many seconds of its rate, so a driver that loads
	// many modules or answers a burst of events at once is not limited.
	BurstSeconds = 5
)

// withDefaults fills the zero fields.
func (l Limits) withDefaults() Limits {
	if l.StatusRate == 0 {
		l.StatusRate = DefaultStatusRate
	}
	if l.CallRate == 0 {
		l.CallRate = DefaultCallRate
	}
	if l.SettingRate == 0 {
		l.SettingRate = DefaultSettingRate
	}
	if l.MaxSubscriptions == 0 {
		l.MaxSubscriptions = DefaultMaxSubscriptions
	}
	return l
}

// newBucket is a full token bucket holding BurstSeconds of rate; a rate <= 0 never limits.
func newBucket(rate float64, now time.Time) tokens.Bucket {
	return tokens.New(rate, burst(rate), now)
}

func burst(rate float64) float64 { return max(1, rate*BurstSeconds) }

// rateText is a rate as the flags take it.
func rateText(r float64) string { return fmt.Sprintf("%g/s", r) }

// driverQuotas counts what each driver holds and spends: driver-to-driver call and setting save
// buckets and open subscriptions, by driver id.
type driverQuotas struct {
	mu    sync.Mutex
	calls map[string]*tokens.Bucket
	saves map[string]*tokens.Bucket
	subs  map[string]int
}

// takeCall spends one of driver's call tokens; it returns 0, or how long until one is free.
func (d *driverQuotas) takeCall(driver string, rate float64) time.Duration {
	return d.take(&d.calls, driver, rate)
}

// takeSave spends one of driver's setting save tokens, as takeCall.
func (d *driverQuotas) takeSave(driver string, rate float64) time.Duration {
	return d.take(&d.saves, driver, rate)
}

func (d *driverQuotas) take(buckets *map[string]*tokens.Bucket, driver string, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	b := (*buckets)[driver]
	if b == nil {
		if *buckets == nil {
			*buckets = map[string]*tokens.Bucket{}
		}
		nb := newBucket(rate, now)
		b = &nb
		(*buckets)[driver] = b
	}
	if b.Take(now) {
		return 0
	}
	return b.Wait(now)
}

// openSubscription counts one more subscription of driver unless it holds max already; the
// returned release (nil when refused) counts it down.
func (d *driverQuotas) openSubscription(driver string, max int) (release func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if max > 0 && d.subs[driver] >= max {
		return nil
	}
	if d.subs == nil {
		d.subs = map[string]int{}
	}
	d.subs[driver]++
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.subs[driver]--; d.subs[driver] <= 0 {
			delete(d.subs, driver)
		}
	}
}

// limitError is a driver limit refusing a call or a subscription: 429 TooMany for the driver
// (an sdk.Error with class TooMany), with when to try again. On a subscription stream it travels
// as gRPC ResourceExhausted, which the SDK recognises.
type limitError struct {
	err        error
	retryAfter time.Duration
}

func (e *limitError) Error() string { return e.err.Error() }
func (e *limitError) Unwrap() error { return e.err }

// LimitReason marks a driver limit's refusal on a stream (an errdetails.ErrorInfo reason), so
// that the SDK tells it from gRPC's own ResourceExhausted (a message too large).
const LimitReason = "DRIVER_LIMIT"

// GRPCStatus is how the refusal of a subscription reaches the driver.
func (e *limitError) GRPCStatus() *status.Status {
	st := status.New(codes.ResourceExhausted, e.err.Error())
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: LimitReason, Domain: "engine"}); err == nil {
		return d
	}
	return st
}

// takeCall spends a driver-to-driver call of the calling module's driver, or refuses it.
func (c *Core) takeCall(from string) error {
	return c.spend(from, c.cfg.Limits.CallRate, c.quotas.takeCall, metrics.DriverCallsRefused,
		"driver %q calls other modules faster than its limit of %s (bursts of %g); slow down, or raise --driver-call-rate (engine serve)")
}

// spend takes a token of the calling module's driver from take's buckets, or refuses with
// refusal (formatted with the driver, the rate and the burst) and counts it under label.
func (c *Core) spend(from string, rate float64, take func(driver string, rate float64) time.Duration, label, refusal string) error {
	driver := c.driverOf(from)
	wait := take(driver, rate)
	if wait == 0 {
		return nil
	}
	c.cfg.Metrics.DriverLimited(driver, label)
	return &limitError{retryAfter: wait, err: errkind.Wrap(errkind.TooMany, nil, refusal, driver, rateText(rate), burst(rate))}
}

// openSubscription counts a status subscription or channel monitor of the calling module's
// driver, or refuses it; release counts it down when the stream ends.
func (c *Core) openSubscription(from string) (release func(), err error) {
	max := c.cfg.Limits.MaxSubscriptions
	driver := c.driverOf(from)
	if countDown := c.quotas.openSubscription(driver, max); countDown != nil {
		c.cfg.Metrics.AddDriverSubscriptions(driver, 1)
		var once sync.Once
		return func() {
			once.Do(func() {
				countDown()
				c.cfg.Metrics.AddDriverSubscriptions(driver, -1)
			})
		}, nil
	}
	c.cfg.Metrics.DriverLimited(driver, metrics.DriverSubsRefused)
	return nil, &limitError{retryAfter: time.Second, err: errkind.Wrap(errkind.TooMany, nil,
		"driver %q holds %d subscriptions, its most; end some, or raise --driver-max-subscriptions (engine serve)", driver, max)}
}
