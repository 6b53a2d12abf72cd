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
		if len(l.buckets) > 10000 { // bound memory: forget full buckets
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

// peek reports whether key's bucket has a token left, without taking it;
// when not, also how long until it has.
func (l *limiter) peek(key string) (ok bool, retryAfter time.Duration) {
	if l == nil || l.burst <= 0 || l.every <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[key]
	if !found {
		return true, 0
	}
	level := l.level(b, l.now())
	if level >= 1 {
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - level) * float64(l.every)))
}

// level is b's tokens at now.
func (l *limiter) level(b *bucket, now time.Time) float64 {
	return math.Min(l.burst, b.tokens+float64(now.Sub(b.at))/float64(l.every))
}
