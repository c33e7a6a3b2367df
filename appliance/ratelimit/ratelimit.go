// Package ratelimit is the request rate limit of the management front
// ends (the native API, the EC2 endpoint, the web console): one token
// bucket per credential, shared by every front end so that a tenant's
// flood through one of them is limited like through the other; a limit
// on failed authentications per client address (Strangers); and the hold
// that slows a flooding client's refusals down. The metadata service uses
// the same buckets per instance.
package ratelimit

import (
	"context"
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

// HoldFor is how long a request over its token's rate is held before
// its refusal is sent (Hold). A 429 costs little, but a client that asks again at
// once on each of many connections gets thousands a second, and that CPU
// is taken from every other tenant (the fairness run of issue 10). Held,
// each of its connections asks at most once a HoldFor; a client
// that waits for Retry-After (at least 1 s) does not notice.
const HoldFor = time.Second

// maxIdleBuckets is how many buckets the limiter keeps before it drops
// the full ones (a full bucket is the same as none).
const maxIdleBuckets = 4096

// Limiter is a token bucket per credential (an API token, an access key): each request takes one token
// from its bucket, which refills at rate per second up to burst. A token
// that floods the API gets 429 at the cost of a map lookup, and the
// other tokens' buckets are untouched, so their latency does not follow.
type Limiter struct {
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

// New returns a Limiter of rate requests per second and burst
// (DefaultRate and DefaultBurst for zeros); a negative rate is no limit
// (nil).
func New(rate float64, burst int, now func() time.Time) *Limiter {
	return NewOr(rate, burst, DefaultRate, DefaultBurst, now)
}

// NewOr is New with other defaults: defRate for a zero rate, defBurst
// for a burst that is not positive.
func NewOr(rate float64, burst int, defRate float64, defBurst int, now func() time.Time) *Limiter {
	if rate < 0 {
		return nil
	}
	if rate == 0 {
		rate = defRate
	}
	if burst <= 0 {
		burst = defBurst
	}
	return &Limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// Allow takes one request from key's bucket. When it is empty it returns
// false and how long until a request is allowed again.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
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

// wait returns how long until key's bucket holds a request again,
// without taking one; zero when it holds one now.
func (l *Limiter) wait(key string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		return 0
	}
	tokens := math.Min(l.burst, b.tokens+max(0, now.Sub(b.last).Seconds())*l.rate)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / l.rate * float64(time.Second))
}

// dropFull forgets the buckets that have refilled by now. The caller
// holds mu.
func (l *Limiter) dropFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// Rate and Burst return the limit, for refusals that state it.
func (l *Limiter) Rate() float64  { return l.rate }
func (l *Limiter) Burst() float64 { return l.burst }

// Hold waits HoldFor, or until ctx ends, before a refusal is sent.
func Hold(ctx context.Context) {
	t := time.NewTimer(HoldFor)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
