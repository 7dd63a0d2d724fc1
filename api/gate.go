package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/stampseal/stampseal/access"
)

// Requests that carry no valid API key (the review page's sign-in, a
// probe, a guess) pass through a gate of their own, so that they can never
// take the slots that authenticated registers redeem through. The gate
// gives them a small budget of slots, a few per client address, and a
// short deadline to send their body; an address that keeps exceeding its
// share or keeps sending bodies too slowly is cut off for a while.
type gate struct {
	slots    chan struct{}
	perAddr  int
	body     time.Duration
	strikes  int           // strikes within cutFor that cut an address off
	cutFor   time.Duration // how long a cut-off lasts
	now      func() time.Time
	mu       sync.Mutex
	inFlight map[string]int
	record   map[string]*conduct
}

// conduct is what the gate remembers of one address.
type conduct struct {
	strikes  int
	since    time.Time // start of the strike window
	cutUntil time.Time
}

// Defaults of the gate for anonymous requests.
const (
	// DefaultAnonymousBodyTimeout is how long a request without a key may
	// take to send its body: a sign-in form is a few hundred bytes.
	DefaultAnonymousBodyTimeout = 2 * time.Second
	// DefaultAnonymousPerAddress is how many requests without a key one
	// address may have in flight.
	DefaultAnonymousPerAddress = 8
	anonStrikes                = 10
	anonCutOff                 = time.Minute
)

func newGate(slots, perAddr int, body time.Duration) *gate {
	return &gate{slots: make(chan struct{}, slots), perAddr: perAddr, body: body, strikes: anonStrikes, cutFor: anonCutOff,
		now: time.Now, inFlight: map[string]int{}, record: map[string]*conduct{}}
}

var (
	errCutOff = &Error{Status: http.StatusTooManyRequests, Code: "cut_off",
		Message: "too many slow or concurrent requests without an API key from this address; wait before trying again",
		Details: map[string]any{"retry_after_seconds": int(anonCutOff / time.Second)}}
	errAddressBusy = &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Message: "too many requests without an API key in flight from this address", Details: map[string]any{"retry_after_seconds": 1}}
	errAnonymousOverloaded = &Error{Status: http.StatusServiceUnavailable, Code: "overloaded",
		Message: "too many requests without an API key in flight; retry shortly", Details: map[string]any{"retry_after_seconds": 1}}
)

// enter admits an anonymous request from addr or says why not; release
// must be called when an admitted request ends.
func (g *gate) enter(addr string) (release func(), err error) {
	now := g.now()
	g.mu.Lock()
	c := g.record[addr]
	switch {
	case c != nil && now.Before(c.cutUntil):
		g.mu.Unlock()
		return nil, errCutOff
	case g.inFlight[addr] >= g.perAddr:
		g.strikeLocked(addr, now)
		g.mu.Unlock()
		return nil, errAddressBusy
	}
	select {
	case g.slots <- struct{}{}:
	default:
		g.mu.Unlock()
		return nil, errAnonymousOverloaded
	}
	g.inFlight[addr]++
	g.mu.Unlock()
	return func() {
		<-g.slots
		g.mu.Lock()
		if g.inFlight[addr]--; g.inFlight[addr] <= 0 {
			delete(g.inFlight, addr)
		}
		g.mu.Unlock()
	}, nil
}

// strike counts one misbehaviour of addr: a body too slow, a share
// exceeded. Enough of them within cutFor cut the address off.
func (g *gate) strike(addr string) {
	g.mu.Lock()
	g.strikeLocked(addr, g.now())
	g.mu.Unlock()
}

func (g *gate) strikeLocked(addr string, now time.Time) {
	c := g.record[addr]
	if c == nil || now.Sub(c.since) >= g.cutFor {
		if c == nil && len(g.record) >= maxTrackedAddrs {
			g.forgetLocked(now)
		}
		c = &conduct{since: now}
		g.record[addr] = c
	}
	if c.strikes++; c.strikes >= g.strikes {
		c.cutUntil = now.Add(g.cutFor)
		c.strikes, c.since = 0, now
	}
}

// maxTrackedAddrs bounds the gate's memory of addresses.
const maxTrackedAddrs = 100_000

func (g *gate) forgetLocked(now time.Time) {
	for a, c := range g.record {
		if now.Sub(c.since) >= g.cutFor && !now.Before(c.cutUntil) {
			delete(g.record, a)
		}
	}
	if len(g.record) >= maxTrackedAddrs {
		clear(g.record)
	}
}

// slowBody reports a body read that ran past the gate's deadline as a
// strike against the address that sent it.
type slowBody struct {
	io.ReadCloser
	onSlow func()
	once   sync.Once
}

func (b *slowBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.once.Do(b.onSlow)
	}
	return n, err
}

// authResult is the outcome of authenticating a request once, before it
// is admitted; handle reads it from the statusRecorder.
type authResult struct {
	key access.Key
	err error
}
