package core

import "github.com/placeos-go/engine/model"

// A driver's log and debug lines name the module they are about in a field the driver fills
// (the JSON log line's "module" key, a debug line's module id), and a driver process holds the
// protected values of every module it serves on this node: a line that names one module can
// quote another's value (a shared connection logging in with the second module's password under
// the first one's logger), and a line may name no module at all. So the supervisor has those
// lines scrubbed with the values of every module this node holds or lately held (Scrub with no
// module), whatever module they name. That is a superset of the values the driver knows (another
// driver's value hidden too costs nothing), and its cost does not grow with them: the values are
// indexed once, when one changes (model.SecretIndex), not gathered and searched for one by one
// on every line.

// anySecretsLocked is the index of every value of c.modules and c.left, built when a value was
// added or dropped since the last one; c.mu is held. The index is immutable: scrub with it after
// unlocking.
func (c *Core) anySecretsLocked() *model.SecretIndex {
	if c.anySecrets == nil {
		c.anySecrets = model.NewSecretIndex(c.allSecretsLocked())
	}
	return c.anySecrets
}
