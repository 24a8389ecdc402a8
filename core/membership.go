package core

// A node that is not a member of the cluster — it left or was removed, or it has no cluster — waits
// for a leader that never comes. Config.Membership (cmd/engine: peer.RemovalWatch) says so, and
// this node then answers with that, not "catching up": it is not ready, GET /cluster answers the
// error (its table is a stale one nobody updates), and so does every execute, whether the module's
// owner by that stale table is this node or another.

// NotMember is the error this node answers with while it is not a member of the cluster, nil
// while it is one (or when nothing tells: Config.Membership nil).
func (c *Core) NotMember() error {
	if c.cfg.Membership == nil {
		return nil
	}
	return c.cfg.Membership()
}
