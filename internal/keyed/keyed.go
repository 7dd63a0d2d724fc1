// Package keyed holds one token bucket per key (an API key's id): how fast
// each key may spend something, e.g. mint credentials or render barcodes.
package keyed

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst at once, then PerSecond sustained.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Or is l, or def when l leaves either field unset.
func (l Limit) Or(def Limit) Limit {
	if l.PerSecond <= 0 || l.Burst <= 0 {
		return def
	}
	return l
}

// Limiter holds one bucket of the same Limit per key. It is safe for
// concurrent use.
type Limiter struct {
	limit Limit
	mu    sync.Mutex
	keys  map[string]*rate.Limiter
}

// New returns a Limiter whose keys each get a bucket of l.
func New(l Limit) *Limiter {
	return &Limiter{limit: l, keys: map[string]*rate.Limiter{}}
}

// Allow spends n of key's budget at now, if it has them.
func (l *Limiter) Allow(key string, n int, now time.Time) bool {
	return l.bucket(key).AllowN(now, n)
}

// Left is key's budget at now.
func (l *Limiter) Left(key string, now time.Time) float64 {
	return l.bucket(key).TokensAt(now)
}

// Drain empties key's budget at now: it overdrew it.
func (l *Limiter) Drain(key string, now time.Time) {
	b := l.bucket(key)
	b.AllowN(now, int(b.TokensAt(now)))
}

func (l *Limiter) bucket(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.keys[key]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(l.limit.PerSecond), l.limit.Burst)
		l.keys[key] = b
	}
	return b
}
