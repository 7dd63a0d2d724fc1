package fraud

import (
	"sync"
	"time"
)

// Scopes say what an incident is about.
const (
	scopeSerial   = "serial"
	scopeAPIKey   = "api_key"
	scopeKey      = "key"      // a signing key id
	scopeMerchant = "merchant" // a merchant's totals, for peer comparison
)

// subjectKey names a card, code or API key of one merchant.
type subjectKey struct {
	merchant, id, scope string
}

// use is one successful operation on a card or code.
type use struct {
	at               int64
	op               Op
	apiKey, register string
	shop             string // of the API key, when it has one
	stamps, rewards  int
}

// spends reports whether the use consumed or added something.
func (u *use) spends() bool { return u.op == OpStamp || u.op == OpClaim || u.op == OpRedeem }

// stamps reports whether the use put stamps on a card: a visit.
func (u *use) stamping() bool { return u.op == OpStamp || u.op == OpClaim }

// cardState is the recent history of one card, coupon or punch.
type cardState struct {
	uses  []use   // oldest first, at most maxHistory
	quick []int64 // quick self-claims onto this card, oldest first
}

func (c *cardState) newest() int64 {
	var t int64
	if n := len(c.uses); n > 0 {
		t = c.uses[n-1].at
	}
	if n := len(c.quick); n > 0 {
		t = max(t, c.quick[n-1])
	}
	return t
}

// ring remembers the times of the last len(t) hits.
type ring struct {
	t    []int64
	next int
}

func newRing(n int) ring { return ring{t: make([]int64, n)} }

// hit records a hit and reports whether all len(t) hits fell within window.
func (r *ring) hit(now, window int64) bool {
	r.t[r.next] = now
	r.next = (r.next + 1) % len(r.t)
	oldest := r.t[r.next]
	return oldest != 0 && now-oldest < window
}

func (r *ring) newest() int64 {
	if len(r.t) == 0 {
		return 0
	}
	return r.t[(r.next+len(r.t)-1)%len(r.t)]
}

// keyState is one API key's day: its invalid codes over a minute, an hour
// and a day, its made-up codes, its requests, and its throttle.
type keyState struct {
	minute, throttling, hour, day, shaped ring
	until                                 int64 // throttled until
	dayStart                              int64
	requests, invalid                     int  // since dayStart
	alerted                               bool // guessing raised since the last lift

	visits dayCounts // stamps and claims a day (insider.go)
}

func (k *keyState) newest() int64 {
	return max(k.until, k.minute.newest(), k.hour.newest(), k.day.newest(), k.dayStart)
}

// rollDay starts a new day of counts when the current one is over.
func (k *keyState) rollDay(now int64) {
	if now-k.dayStart >= int64(24*time.Hour) {
		k.dayStart, k.requests, k.invalid = now, 0, 0
	}
}

// codeState remembers where a punch was issued, where a code was last
// spent, and whether an old code's re-presentation was noted.
type codeState struct {
	issuedAt, spentAt, notedAt                          int64
	issuedRegister, issuedKey, issuedSource, issuedShop string
	spentAPIKey, spentShop, spentRegister               string
}

// shard holds the in-memory windows of the subjects that hash to it.
type shard struct {
	mu            sync.Mutex
	cards         map[subjectKey]*cardState
	keys          map[subjectKey]*keyState
	codes         map[subjectKey]codeState
	lastSweep     int64 // of keys and codes
	lastCardSweep int64
	_             [64]byte // keeps neighbouring shards' locks off one cache line
}

func (sh *shard) init() {
	sh.cards = make(map[subjectKey]*cardState)
	sh.keys = make(map[subjectKey]*keyState)
	sh.codes = make(map[subjectKey]codeState)
}

// sweepEvery is how often a shard drops the keys and codes that fell out
// of their windows. Cards live for a week by default, so they are swept
// every 1/64 of their horizon: sweeping costs a pass over the shard, and
// cards are most of what it holds.
const sweepEvery = int64(time.Minute)

// notedFor is how long an old code's noted re-presentation is remembered.
const notedFor = int64(30 * 24 * time.Hour)

// lock locks sh and, when due or when sh is full, drops stale state.
func (m *Monitor) lock(sh *shard, now int64) {
	sh.mu.Lock()
	c := &m.cfg
	full := len(sh.cards)+len(sh.keys)+len(sh.codes) >= c.MaxTracked/numShards
	if !full && now-sh.lastSweep < sweepEvery {
		return
	}
	sh.lastSweep = now
	cardHorizon := m.cardHorizon()
	if full || now-sh.lastCardSweep >= max(sweepEvery, cardHorizon/64) {
		sh.lastCardSweep = now
		for k, s := range sh.cards {
			if s.newest() < now-cardHorizon {
				delete(sh.cards, k)
			}
		}
	}
	for k, o := range sh.keys {
		if o.newest() < now-int64(48*time.Hour) {
			delete(sh.keys, k)
		}
	}
	codeHorizon := now - int64(max(c.QuickClaim, c.ReplayGrace, c.Shift, c.ReplayStale))
	for k, s := range sh.codes {
		if max(s.issuedAt, s.spentAt) < codeHorizon && s.notedAt < now-notedFor {
			delete(sh.codes, k)
		}
	}
	// Still full: someone is feeding made-up names. Drop arbitrary entries
	// (map order is random) from the largest map, down to nine tenths so
	// that the next inserts do not sweep again.
	for limit := m.cfg.MaxTracked / numShards * 9 / 10; len(sh.cards)+len(sh.keys)+len(sh.codes) > limit; {
		switch n := max(len(sh.cards), len(sh.keys), len(sh.codes)); n {
		case len(sh.cards):
			evictOne(sh.cards)
		case len(sh.keys):
			evictOne(sh.keys)
		default:
			evictOne(sh.codes)
		}
	}
}

// cardHorizon is how far back a card's uses matter to any rule.
func (m *Monitor) cardHorizon() int64 {
	c := &m.cfg
	return int64(max(c.DuplicateWindow, c.VelocityWindow, c.InsiderWindow, c.CardWindow, c.Shift))
}

func evictOne[V any](mp map[subjectKey]V) {
	for k := range mp {
		delete(mp, k)
		return
	}
}

// dropBefore removes, in place, the leading elements older than horizon.
func dropBefore[T any](s []T, horizon int64, at func(*T) int64) []T {
	i := 0
	for i < len(s) && at(&s[i]) < horizon {
		i++
	}
	if i == 0 {
		return s
	}
	n := copy(s, s[i:])
	return s[:n]
}
