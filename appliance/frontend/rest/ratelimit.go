package rest

import (
	"math"
	"sync"
	"time"
)

// Default request rate of one API token: a sustained rate and a burst.
// A tenant's total is bounded by its token quota (package quota) times
// this.
const (
	DefaultRate  = 50  // requests per second
	DefaultBurst = 100 // requests at once
)

// tooManyHold is how long a request over its token's rate is held before
// its 429 is sent. A 429 costs little, but a client that asks again at
// once on each of many connections gets thousands a second, and that CPU
// is taken from every other tenant (the fairness run of issue 10). Held,
// each of its connections asks at most once a tooManyHold; a client
// that waits for Retry-After (at least 1 s) does not notice.
const tooManyHold = time.Second

// maxIdleBuckets is how many buckets the limiter keeps before it drops
// the full ones (a full bucket is the same as none).
const maxIdleBuckets = 4096

// limiter is a token bucket per API token: each request takes one token
// from its bucket, which refills at rate per second up to burst. A token
// that floods the API gets 429 at the cost of a map lookup, and the
// other tokens' buckets are untouched, so their latency does not follow.
type limiter struct {
	rate, burst float64
	now         func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket // guarded by mu: token ID → its bucket
}

// bucket is one token's tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// newLimiter returns a limiter of rate requests per second and burst
// (DefaultRate and DefaultBurst for zeros); a negative rate is no limit
// (nil).
func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	if rate < 0 {
		return nil
	}
	if rate == 0 {
		rate = DefaultRate
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes one request from key's bucket. When it is empty it returns
// false and how long until a request is allowed again.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxIdleBuckets {
			l.dropFull(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// dropFull forgets the buckets that have refilled by now. The caller
// holds mu.
func (l *limiter) dropFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
