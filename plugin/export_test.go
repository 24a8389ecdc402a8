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

// Gathered reports the memory the answers being gathered on c's Execs stream hold (their
// buffers' capacity) and the bytes that came of them.
func Gathered(c *Client) (held, length int) {
	es := c.execs.current()
	if es == nil {
		return 0, 0
	}
	es.piecesMu.Lock()
	defer es.piecesMu.Unlock()
	for _, g := range es.pieces {
		held += cap(g.Response.ResultJson)
		length += len(g.Response.ResultJson)
	}
	return held, length
}

// MaxGathered is maxGathered, for tests.
const MaxGathered = maxGathered
