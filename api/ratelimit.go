package api

import (
	"math"
	"sync"
	"time"

	"github.com/backupkit/backupkit/config"
)

// limiter is a token bucket per key (a caller's name): up to burst
// requests at once, then one each every.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	now     func() time.Time
	buckets map[string]*bucket
	swept   time.Time // the last sweep of full buckets
}

type bucket struct {
	tokens float64
	at     time.Time
}

// newLimiter returns a limiter for l; a zero l allows everything.
func newLimiter(l config.RateLimit) *limiter {
	return &limiter{burst: float64(l.Burst), every: time.Duration(l.Every), now: time.Now, buckets: map[string]*bucket{}}
}

// allow takes a token of key's bucket. When none is left it returns false
// and how long until one is.
func (l *limiter) allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil || l.burst <= 0 || l.every <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, found := l.buckets[key]
	if !found {
		// Bound memory: past 10,000 keys, forget the full buckets, at most
		// once per refill period (a sweep costs a pass over the map).
		if len(l.buckets) > 10000 && now.Sub(l.swept) >= l.every {
			l.swept = now
			for k, v := range l.buckets {
				if l.level(v, now) >= l.burst {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens, b.at = l.level(b, now), now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) * float64(l.every)))
	return false, wait
}

// refund gives back a token allow took from key's bucket.
func (l *limiter) refund(key string) {
	if l == nil || l.burst <= 0 || l.every <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[key]; ok {
		now := l.now()
		b.tokens, b.at = math.Min(l.burst, l.level(b, now)+1), now
	}
}

// level is b's tokens at now.
func (l *limiter) level(b *bucket, now time.Time) float64 {
	return math.Min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
}
