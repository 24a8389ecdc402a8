package supervisor

import "github.com/placeos-go/engine/internal/proctree"

// instanceEnv names the environment variable that marks every process of one driver process's
// tree. A child that calls setsid or setpgid leaves the driver's process group, but it keeps its
// parent's environment unless it clears it on purpose, and /proc/<pid>/environ of a process of
// the engine's own user is readable: the mark is how such a child is found after its driver is
// gone (its parent is then init, so the process tree no longer leads to it).
const instanceEnv = "ENGINE_DRIVER_INSTANCE"

// family is everything one driver process may have started (proctree.Family).
//
// A process group, not a session: on Linux with autogroup scheduling (the default on desktop and
// many server kernels) every new session is a scheduling group of its own, which cost each
// execute about 7 µs more CPU in the driver (BenchmarkExecute, 32 clients: 36 µs against 27 µs)
// and would give one busy driver as much CPU as the whole engine. A child that leaves the group
// keeps the mark, so a group finds what a session would have.
type family = proctree.Family

func newFamily(mark string) family { return family{Env: instanceEnv, Mark: mark} }
