package supervisor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/plugin/proto"
)

// Config configures a Supervisor. Zero durations and counts take the defaults below.
type Config struct {
	Logger hclog.Logger
	// Host is the engine's callback service. The supervisor serves Log itself (debug fan-out)
	// and passes every other call through, once it checked that the calling process hosts the
	// module the call comes from (guard.go); nil answers them Unimplemented.
	Host proto.HostServer

	// CallTimeout bounds the lifecycle calls (Start, Update, Stop, Move, Metadata, Info); default
	// 60 s. Exec is not one of them: its caller (the engine core) sets the one execute deadline.
	CallTimeout time.Duration
	// LaunchTimeout bounds a process's launch, go-plugin's handshake and Init; default 10 s. A
	// driver prints its handshake within milliseconds, and a launch that hangs holds every
	// caller waiting for the driver (the engine's reconcile pass among them), so it is short.
	LaunchTimeout time.Duration
	ProbeInterval time.Duration // default 5 s
	ProbeTimeout  time.Duration // default 3 s

	// FenceAfter, when set, makes every driver process fence itself (fence.go): it stops its
	// modules and exits once it has heard no heartbeat from the supervisor for FenceAfter, plus
	// up to plugin.FenceStopTime to stop them. 0 sends no heartbeat: processes never fence.
	FenceAfter time.Duration
	// HeartbeatInterval is how often each process gets a heartbeat; default FenceAfter/6.
	HeartbeatInterval time.Duration
	// InContact reports whether a leader of the cluster has reached this node since the given
	// time; nil: always. A process that fenced itself is relaunched only once one has since its
	// exit was seen: meanwhile the engine learns which of its modules moved and stops them, and
	// those are not started again.
	InContact func(since time.Time) bool
	// heartbeatsPaused, set by a test, holds every heartbeat back: the engine seen as frozen.
	heartbeatsPaused *atomic.Bool
	// heartbeatsAnswered, set by a test, counts the heartbeats a process answered: one has armed
	// its fence.
	heartbeatsAnswered *atomic.Int64

	BackoffInitial time.Duration // default 100 ms: delay before the second relaunch in a row
	BackoffMax     time.Duration // default 30 s
	StableAfter    time.Duration // default 1 min: a process up this long resets the backoff
	CrashloopAfter int           // default 5 restarts within the unstable window
	// Spare keeps each driver one more process, launched without modules once its process has
	// run StableAfter, to take over at once when that process exits (spare.go).
	Spare bool
	// SpareBackoffMax bounds the wait between tries of a spare that keeps failing (to launch, or
	// exiting), which doubles from StableAfter (spareretry.go); default 30 min.
	SpareBackoffMax time.Duration

	// RunDir holds a <pid>.pid file per running process, for orphan cleanup; "" disables it.
	RunDir string
	// OnMetadata is called when a relaunched process's metadata differs from its predecessor's
	// (a binary rebuilt at the same path), with the driver's modules, so their metadata is
	// written again.
	OnMetadata func(ctx context.Context, binary string, moduleIDs []string, metadata []byte)
	// OnModuleStart is called before every Start RPC, restarts included.
	OnModuleStart func(ctx context.Context, moduleID string)
	// OnProcessState is told when a driver's process goes down unexpectedly (it exited, or a
	// relaunch failed: State StateRestarting or StateCrashloop, with Restarts and Reason) and when
	// a relaunched process has (re)started its modules and takes calls (StateRunning), with the
	// driver's modules at that moment. A process that was killed cannot say its modules are not
	// connected; the engine says it for them. It is called from the driver's own goroutine, on
	// every exit of a crash loop: it must return at once.
	OnProcessState func(binary string, moduleIDs []string, st ProcessState)
	// Scrub hides a module's protected setting values in what its driver says, before the
	// supervisor passes it on (a start failing in a relaunched process); with moduleID "", those
	// of every module: so are the driver's log lines (to the engine's log) and debug lines (to
	// debug listeners) scrubbed, whatever module they name, as the driver fills that field and
	// holds every one of its modules' values, and so is a line that names no module (a panic, a
	// library's print). nil passes them as they are. The supervisor cannot tell which of a
	// module's settings are protected; the engine core can.
	Scrub func(moduleID, text string) string
	// SecureConfig optionally returns the checksum a binary must match; nil means none.
	SecureConfig func(binary string) *goplugin.SecureConfig
	// Env optionally returns extra environment (KEY=value) for a driver binary's processes.
	Env func(binary string) []string
	// Metrics records process restarts and states; nil records nothing.
	Metrics *metrics.Metrics
	// Cgroups lets the supervisor run each driver process in a cgroup v2 group of its own when
	// the engine's group is delegated to it (cgroups); without, or where it cannot, drivers get
	// RLIMIT_DATA. Off in tests of other packages: it moves the calling process.
	Cgroups bool
	// MemoryLimit optionally returns the memory limit in bytes of a driver binary's processes
	// (0: none); see limitMemory.
	MemoryLimit func(binary string) int64
	// LogRate is how many log lines a second each module of a driver may write to the engine's
	// log, and LogBurst how many at once (default 100 and 500); more are dropped and counted.
	LogRate  float64
	LogBurst int
	// logReportAfter is droppedReportAfter unless a test shortens it.
	logReportAfter time.Duration
	// Parallel bounds how many modules a relaunched process is sent at once (default 64): a
	// process that hosted thousands of modules takes calls again once it has them all.
	Parallel int
}

const (
	defaultCallTimeout    = 60 * time.Second
	defaultLaunchTimeout  = 10 * time.Second
	defaultProbeInterval  = 5 * time.Second
	defaultProbeTimeout   = 3 * time.Second
	defaultBackoffInitial = 100 * time.Millisecond
	defaultBackoffMax     = 30 * time.Second
	defaultStableAfter    = time.Minute
	defaultSpareBackoff   = 30 * time.Minute
	defaultCrashloopAfter = 5
	defaultParallel       = 64
	defaultLogRate        = 100
	defaultLogBurst       = 500

	// heartbeatsPerFence is how many heartbeats go out within a fence time by default: five can
	// be lost or late (a starved CPU) before a process fences itself for nothing.
	heartbeatsPerFence = 6

	// pipeDrainGrace is how long the last stderr lines of a process that exited are read for
	// while something it started still holds the pipe open.
	pipeDrainGrace = 500 * time.Millisecond

	// childGrace is how long what a driver started gets between SIGTERM and SIGKILL once the
	// driver itself is gone or stopping.
	childGrace = time.Second

	// terminateTimeout bounds the polite part of stopping a process before its group is killed.
	terminateTimeout = 2 * time.Second
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.CallTimeout, defaultCallTimeout)
	def(&c.LaunchTimeout, defaultLaunchTimeout)
	def(&c.ProbeInterval, defaultProbeInterval)
	def(&c.ProbeTimeout, defaultProbeTimeout)
	def(&c.BackoffInitial, defaultBackoffInitial)
	def(&c.BackoffMax, defaultBackoffMax)
	def(&c.StableAfter, defaultStableAfter)
	def(&c.SpareBackoffMax, max(defaultSpareBackoff, c.StableAfter))
	if c.CrashloopAfter <= 0 {
		c.CrashloopAfter = defaultCrashloopAfter
	}
	if c.LogRate <= 0 {
		c.LogRate = defaultLogRate
	}
	if c.LogBurst <= 0 {
		c.LogBurst = defaultLogBurst
	}
	def(&c.logReportAfter, droppedReportAfter)
	if c.FenceAfter > 0 {
		def(&c.HeartbeatInterval, c.FenceAfter/heartbeatsPerFence)
	}
	if c.Parallel <= 0 {
		c.Parallel = defaultParallel
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

// Driver process states (docs/protocol.md §6 status/driver).
const (
	StateRunning    = "running"
	StateRestarting = "restarting" // not serving yet: launching, or waiting to relaunch
	StateCrashloop  = "crashloop"
)

// ProcessState is a change of a driver's process state told to Config.OnProcessState.
type ProcessState struct {
	State    string // StateRunning, StateRestarting or StateCrashloop
	Restarts int    // unexpected exits since the last stable run
	// Reason is why the last process ended or did not start; with StateRunning after restarts,
	// why the one before this process did.
	Reason string
	// StableAt, with StateRunning after restarts, is when this process will have run StableAfter:
	// its restarts are history then, if it has not exited. Zero otherwise.
	StableAt time.Time
}

// DriverStatus is one driver process as served by GET /api/core/v1/status/driver.
type DriverStatus struct {
	Driver  string `json:"driver"`
	Running bool   `json:"running"`
	PID     int    `json:"pid"`
	// SparePID is the driver's spare process (Config.Spare), 0 while it has none.
	SparePID int `json:"spare_pid"`
	// SpareError says why the driver has no spare when its last one failed to launch or exited
	// ("launch failed: …", "exited: …"), until the next one is ready.
	SpareError      string `json:"spare_error,omitempty"`
	ModuleInstances int    `json:"module_instances"`
	LaunchCount     int    `json:"launch_count"`
	// LastExitCode is the exit status of the previous process; 128+n when signal n killed it.
	LastExitCode int `json:"last_exit_code"`
	// LastExitSignal names the signal that killed the previous process ("SIGKILL"), "" if it
	// exited by itself.
	LastExitSignal string `json:"last_exit_signal"`
	// LaunchTime is when the current (or last) process started, in Unix seconds as PlaceOS has it.
	LaunchTime   int64  `json:"launch_time"`
	State        string `json:"state"`
	RestartCount int    `json:"restart_count"`
	LastError    string `json:"last_error"`
}

// tellState passes a process state change to Config.OnProcessState, if set.
func (d *driver) tellState(mods []string, st ProcessState) {
	if d.s.cfg.OnProcessState != nil {
		d.s.cfg.OnProcessState(d.binary, mods, st)
	}
}

// scrub is text with module id's protected values hidden (Config.Scrub).
func (s *Supervisor) scrub(moduleID, text string) string {
	if s.cfg.Scrub == nil {
		return text
	}
	return s.cfg.Scrub(moduleID, text)
}
