package tokens

import "time"

// Bucket holds at most burst tokens and gains rate tokens a second; a rate <= 0 never limits.
// The zero Bucket never limits. Not safe for concurrent use: its owner locks.
type Bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// New is a full bucket.
func New(rate, burst float64, now time.Time) Bucket {
	return Bucket{rate: rate, burst: burst, tokens: burst, last: now}
}

func (b *Bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// Take spends one token if there is one.
func (b *Bucket) Take(now time.Time) bool {
	if b.rate <= 0 {
		return true
	}
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Wait is how long from now until Take would succeed.
func (b *Bucket) Wait(now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}
