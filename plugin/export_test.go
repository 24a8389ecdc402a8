package plugin

// Pending reports what c's Execs stream in use holds: the calls waiting for their answers, and
// the answers being gathered from pieces.
func Pending(c *Client) (calls, gathering int) {
	es := c.execs.current()
	if es == nil {
		return 0, 0
	}
	calls, _ = es.calls.Counts()
	es.piecesMu.Lock()
	defer es.piecesMu.Unlock()
	return calls, len(es.pieces)
}
