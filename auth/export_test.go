package auth

// WithoutKey is c without the API key that authenticated it, for tests that compare callers
// with ones they write down.
func WithoutKey(c Caller) Caller {
	c.apiKey = nil
	return c
}
