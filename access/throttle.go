package access

import (
	"sync"
	"time"
)

// FailureThrottle slows down the guessing of API keys: after Limit failed
// sign-ins from one client address within Window, every further attempt
// from that address is refused, unchecked, until the window ends. It is
// keyed by address because a guesser has no key to be keyed by; one
// throttle serves the API and the review page. It is safe for concurrent
// use.
type FailureThrottle struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	addrs map[string]*failures
}

type failures struct {
	n     int
	start time.Time
}

// maxTracked bounds the addresses remembered; beyond it, addresses whose
// window has ended are forgotten first.
const maxTracked = 100_000

// DefaultFailureLimit and DefaultFailureWindow bound guessing to 50 keys a
// minute per address, far above what a person mistyping a key reaches.
const (
	DefaultFailureLimit  = 50
	DefaultFailureWindow = time.Minute
)

// NewFailureThrottle returns a throttle; limit or window of zero take the
// defaults.
func NewFailureThrottle(limit int, window time.Duration) *FailureThrottle {
	if limit <= 0 {
		limit = DefaultFailureLimit
	}
	if window <= 0 {
		window = DefaultFailureWindow
	}
	return &FailureThrottle{limit: limit, window: window, now: time.Now, addrs: map[string]*failures{}}
}

// Blocked reports whether attempts from addr are refused now, and for how
// much longer.
func (t *FailureThrottle) Blocked(addr string) (time.Duration, bool) {
	if t == nil {
		return 0, false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.addrs[addr]
	if f == nil || f.n < t.limit {
		return 0, false
	}
	left := f.start.Add(t.window).Sub(now)
	if left <= 0 {
		delete(t.addrs, addr)
		return 0, false
	}
	return left, true
}

// Failed records a failed sign-in from addr.
func (t *FailureThrottle) Failed(addr string) {
	if t == nil {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.addrs[addr]
	if f == nil || now.Sub(f.start) >= t.window {
		if f == nil && len(t.addrs) >= maxTracked {
			t.forgetLocked(now)
		}
		t.addrs[addr] = &failures{n: 1, start: now}
		return
	}
	f.n++
}

func (t *FailureThrottle) forgetLocked(now time.Time) {
	for a, f := range t.addrs {
		if now.Sub(f.start) >= t.window {
			delete(t.addrs, a)
		}
	}
	if len(t.addrs) >= maxTracked { // all fresh: a spoofing flood; start over
		clear(t.addrs)
	}
}
