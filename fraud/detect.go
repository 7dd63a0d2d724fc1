package fraud

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// The detectors. Each rule, in the words an alert's evidence uses, is built
// once from the Config by newRules; the code below decides when it applies.
//
//   - counterfeit: a code refused as invalid_signature or unknown_key (high),
//     or as wrong_merchant (low: a customer can hand over another shop's
//     card). One incident per register (or address) where they turn up,
//     since a forger picks the serials. A malformed scan or a mistyped
//     short code is not counterfeit; it only counts towards guessing.
//   - replay: already_redeemed, unless it is an idempotent retry (never
//     observed) or a double scan at the register that redeemed the code
//     less than ReplayGrace before. One incident per serial.
//   - duplicate_card: one card used successfully at two registers within
//     DuplicateWindow. One incident per card.
//   - velocity: limit_exceeded on a stamp or claim, or more than
//     VelocityLimit stamps, claims or redemptions of one serial within
//     VelocityWindow. One incident per serial.
//   - unissued_serial (critical) and compromised_key (high): the refusal of
//     the same name. One incident per signing key, since either means the
//     key is in someone else's hands.
//   - guessing: GuessLimit invalid codes (malformed, invalid_signature,
//     unknown_key, bad_short_code, unknown_short_code) within GuessWindow
//     from one register or one source address. The register (or address)
//     is throttled for ThrottleFor, renewed while it keeps at it. One
//     incident per register, or per address when only the address is over.
//   - insider: a register did more than InsiderShare of a card's stamps and
//     claims, once the card has InsiderMinStamps of them in InsiderWindow;
//     or a card collected InsiderQuickClaims punches within InsiderWindow,
//     each claimed less than QuickClaim after issue by the same register
//     name, API key or source address. One incident per register.
type rules struct {
	counterfeit, replay, duplicate, velocityLimit, velocityRate,
	unissued, compromised, guessing, insiderShare, insiderQuick, issueFlood string
}

func newRules(c Config) rules {
	return rules{
		counterfeit:   "a code with a bad signature, an unknown key or another merchant's name was presented",
		replay:        "a code already used was presented again, not as a retry",
		duplicate:     fmt.Sprintf("one card was used at two registers within %v", c.DuplicateWindow),
		velocityLimit: "a stamp or claim went over the program's limit",
		velocityRate:  fmt.Sprintf("more than %d stamps, claims or redemptions of one code within %v", c.VelocityLimit, c.VelocityWindow),
		unissued:      "a validly signed code carries a serial that was never issued: the signing key has leaked",
		compromised:   "a code signed by a key marked compromised was presented",
		guessing:      fmt.Sprintf("%d invalid codes within %v from one register or address", c.GuessLimit, c.GuessWindow),
		insiderShare:  fmt.Sprintf("one register did more than %.0f%% of a card's stamps and claims (at least %d within %v)", c.InsiderShare*100, c.InsiderMinStamps, c.InsiderWindow),
		issueFlood:    "an issuer key minted credentials beyond its rate limit",
		insiderQuick:  fmt.Sprintf("%d punches went onto one card within %v, each claimed less than %v after the same till issued it", c.InsiderQuickClaims, c.InsiderWindow, c.QuickClaim),
	}
}

// Scopes say what an incident is about.
const (
	scopeSerial   = "serial"
	scopeRegister = "register"
	scopeSource   = "source"
	scopeAPIKey   = "api_key"
	scopeKey      = "key" // a signing key id
)

// subjectKey names a card, code, register or address of one merchant.
type subjectKey struct {
	merchant, id, scope string
}

// use is one successful operation on a card or code.
type use struct {
	at               int64
	op               Op
	register, apiKey string
}

// place is where a use happened: the register, or the API key when the
// request named no register.
func (u *use) place() string {
	if u.register != "" {
		return u.register
	}
	return u.apiKey
}

// differentPlace reports whether two uses were certainly at different
// registers; a use that names no register is compared by API key only with
// another that names none.
func differentPlace(a, b *use) bool {
	switch {
	case a.register != "" && b.register != "":
		return a.register != b.register
	case a.register == "" && b.register == "" && a.apiKey != "" && b.apiKey != "":
		return a.apiKey != b.apiKey
	}
	return false
}

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

// offender counts invalid codes from one register or address.
type offender struct {
	hits  []int64 // ring of the last GuessLimit invalid-code times
	next  int
	until int64 // throttled until
}

// hit records an invalid code and reports whether GuessLimit of them fell
// within window.
func (o *offender) hit(now, window int64) bool {
	o.hits[o.next] = now
	o.next = (o.next + 1) % len(o.hits)
	oldest := o.hits[o.next]
	return oldest != 0 && now-oldest < window
}

func (o *offender) newest() int64 { return o.hits[(o.next+len(o.hits)-1)%len(o.hits)] }

// codeState remembers, briefly, where a punch was issued and where a code was
// last spent.
type codeState struct {
	issuedAt, spentAt                       int64
	issuedRegister, issuedKey, issuedSource string
	spentRegister, spentAPIKey              string
}

// shard holds the in-memory windows of the subjects that hash to it.
type shard struct {
	mu            sync.Mutex
	cards         map[subjectKey]*cardState
	offenders     map[subjectKey]*offender
	codes         map[subjectKey]codeState
	lastSweep     int64 // of registers, addresses and codes
	lastCardSweep int64
	_             [64]byte // keeps neighbouring shards' locks off one cache line
}

func (sh *shard) init() {
	sh.cards = make(map[subjectKey]*cardState)
	sh.offenders = make(map[subjectKey]*offender)
	sh.codes = make(map[subjectKey]codeState)
}

// sweepEvery is how often a shard drops the registers, addresses and codes
// that fell out of their (short) windows. Cards live for a day by default,
// so they are swept every 1/64 of their horizon: sweeping costs a pass over
// the shard, and cards are most of what it holds.
const sweepEvery = int64(time.Minute)

// lock locks sh and, when due or when sh is full, drops stale state.
func (m *Monitor) lock(sh *shard, now int64) {
	sh.mu.Lock()
	c := &m.cfg
	full := len(sh.cards)+len(sh.offenders)+len(sh.codes) >= c.MaxTracked/numShards
	if !full && now-sh.lastSweep < sweepEvery {
		return
	}
	sh.lastSweep = now
	cardHorizon := int64(max(c.DuplicateWindow, c.VelocityWindow, c.InsiderWindow))
	if full || now-sh.lastCardSweep >= max(sweepEvery, cardHorizon/64) {
		sh.lastCardSweep = now
		for k, s := range sh.cards {
			if s.newest() < now-cardHorizon {
				delete(sh.cards, k)
			}
		}
	}
	codeHorizon := now - int64(max(c.QuickClaim, c.ReplayGrace))
	for k, o := range sh.offenders {
		if o.until <= now && o.newest() < now-int64(c.GuessWindow) {
			delete(sh.offenders, k)
		}
	}
	for k, s := range sh.codes {
		if max(s.issuedAt, s.spentAt) < codeHorizon {
			delete(sh.codes, k)
		}
	}
	// Still full: someone is feeding made-up names. Drop arbitrary entries
	// (map order is random) from the largest map, down to nine tenths so
	// that the next inserts do not sweep again.
	for limit := m.cfg.MaxTracked / numShards * 9 / 10; len(sh.cards)+len(sh.offenders)+len(sh.codes) > limit; {
		switch n := max(len(sh.cards), len(sh.offenders), len(sh.codes)); n {
		case len(sh.cards):
			evictOne(sh.cards)
		case len(sh.offenders):
			evictOne(sh.offenders)
		default:
			evictOne(sh.codes)
		}
	}
}

func evictOne[V any](mp map[subjectKey]V) {
	for k := range mp {
		delete(mp, k)
		return
	}
}

// finding is one detector's verdict on one event.
type finding struct {
	kind, severity, rule string
	scope, subject       string // what the incident is about
	serial               string
	weight               int    // occurrences it stands for; 0 means 1
	otherRegister        string // duplicate_card: the other register
	otherAt              int64
	throttledUntil       int64
}

// findings is a fixed array so that Observe does not allocate for them.
type findings struct {
	list [4]finding
	n    int
}

func (f *findings) add(x finding) {
	if f.n < len(f.list) {
		f.list[f.n] = x
		f.n++
	}
}

// observeOK runs the detectors that look at successful operations.
func (m *Monitor) observeOK(ev *Event, now int64, found *findings) {
	serial, quick := ev.Serial, false
	switch ev.Op {
	case OpIssue:
		if ev.Kind == "punch" && ev.Serial != "" {
			m.noteCode(ev, now)
		}
		return
	case OpClaim:
		serial = ev.Card
		quick = m.noteCode(ev, now)
	case OpRedeem:
		m.noteCode(ev, now)
	case OpVerify, OpStamp:
	default:
		return
	}
	if serial == "" {
		return
	}
	m.checkCard(ev, serial, now, quick, found)
}

// noteCode records the issue of a punch or the spending of a code, and
// reports whether a claim is a quick self-claim.
func (m *Monitor) noteCode(ev *Event, now int64) (quickSelfClaim bool) {
	if ev.Serial == "" {
		return false
	}
	k := subjectKey{ev.Merchant, ev.Serial, scopeSerial}
	sh := m.shard(ev.Serial)
	m.lock(sh, now)
	defer sh.mu.Unlock()
	s := sh.codes[k]
	if ev.Op == OpIssue {
		s.issuedAt, s.issuedRegister, s.issuedKey, s.issuedSource = now, ev.Register, ev.APIKey, ev.Source
	} else {
		quickSelfClaim = ev.Op == OpClaim && s.issuedAt != 0 && now-s.issuedAt < int64(m.cfg.QuickClaim) &&
			(same(s.issuedRegister, ev.Register) || same(s.issuedKey, ev.APIKey) || same(s.issuedSource, ev.Source))
		s.spentAt, s.spentRegister, s.spentAPIKey = now, ev.Register, ev.APIKey
	}
	sh.codes[k] = s
	return quickSelfClaim
}

// same reports whether two names are known and equal.
func same(a, b string) bool { return a != "" && a == b }

// checkCard runs duplicate_card, velocity and insider over one successful use
// of serial, then records the use.
func (m *Monitor) checkCard(ev *Event, serial string, now int64, quick bool, found *findings) {
	c := &m.cfg
	k := subjectKey{ev.Merchant, serial, scopeSerial}
	sh := m.shard(serial)
	m.lock(sh, now)
	defer sh.mu.Unlock()
	st := sh.cards[k]
	if st == nil {
		st = &cardState{}
		sh.cards[k] = st
	}
	horizon := now - int64(max(c.DuplicateWindow, c.VelocityWindow, c.InsiderWindow))
	st.uses = dropBefore(st.uses, horizon, func(u *use) int64 { return u.at })
	u := use{at: now, op: ev.Op, register: ev.Register, apiKey: ev.APIKey}

	isCard := ev.Kind == "card" || ev.Op == OpStamp || ev.Op == OpClaim
	spends := ev.Op == OpStamp || ev.Op == OpClaim || ev.Op == OpRedeem
	stamps := ev.Op == OpStamp || ev.Op == OpClaim
	dupFound := false
	recent, mine, total := 1, 1, 1 // this use counts in every window
	for i := range st.uses {
		p := &st.uses[i]
		age := now - p.at
		if isCard && !dupFound && age < int64(c.DuplicateWindow) && differentPlace(p, &u) {
			dupFound = true
			found.add(finding{kind: KindDuplicateCard, severity: SeverityHigh, rule: m.rules.duplicate,
				scope: scopeSerial, subject: serial, serial: serial, otherRegister: p.place(), otherAt: p.at})
		}
		pStamps := p.op == OpStamp || p.op == OpClaim
		if spends && (pStamps || p.op == OpRedeem) && age < int64(c.VelocityWindow) {
			recent++
		}
		if stamps && pStamps && age < int64(c.InsiderWindow) {
			total++
			if p.place() == u.place() {
				mine++
			}
		}
	}
	if spends && recent > c.VelocityLimit {
		found.add(finding{kind: KindVelocity, severity: SeverityMedium, rule: m.rules.velocityRate,
			scope: scopeSerial, subject: serial, serial: serial})
	}
	if stamps && u.place() != "" && total >= c.InsiderMinStamps && float64(mine) > c.InsiderShare*float64(total) {
		found.add(m.insider(&u, serial, m.rules.insiderShare))
	}
	if quick {
		st.quick = dropBefore(st.quick, now-int64(c.InsiderWindow), func(t *int64) int64 { return *t })
		if len(st.quick) == maxHistory {
			st.quick = st.quick[1:]
		}
		st.quick = append(st.quick, now)
		if len(st.quick) >= c.InsiderQuickClaims {
			found.add(m.insider(&u, serial, m.rules.insiderQuick))
		}
	}
	if len(st.uses) == maxHistory {
		copy(st.uses, st.uses[1:])
		st.uses = st.uses[:maxHistory-1]
	}
	st.uses = append(st.uses, u)
}

func (m *Monitor) insider(u *use, card, rule string) finding {
	scope := scopeRegister
	if u.register == "" {
		scope = scopeAPIKey
	}
	return finding{kind: KindInsider, severity: SeverityMedium, rule: rule, scope: scope, subject: u.place(), serial: card}
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

// observeRefusal runs the detectors that look at refused codes.
func (m *Monitor) observeRefusal(ev *Event, now int64, found *findings) {
	switch ev.Result {
	case "invalid_signature", "unknown_key", "wrong_merchant":
		sev := SeverityHigh
		if ev.Result == "wrong_merchant" {
			sev = SeverityLow
		}
		scope, subject := scopeRegister, ev.Register
		switch {
		case subject == "" && ev.Source != "":
			scope, subject = scopeSource, ev.Source
		case subject == "":
			scope, subject = scopeAPIKey, ev.APIKey
		}
		found.add(finding{kind: KindCounterfeit, severity: sev, rule: m.rules.counterfeit,
			scope: scope, subject: subject, serial: ev.Serial})
	case "already_redeemed":
		if ev.Serial != "" && !m.doubleScan(ev, now) {
			found.add(finding{kind: KindReplay, severity: SeverityMedium, rule: m.rules.replay,
				scope: scopeSerial, subject: ev.Serial, serial: ev.Serial, otherRegister: ev.FirstUse})
		}
	case "limit_exceeded":
		serial := ev.Serial
		if ev.Op == OpClaim {
			serial = ev.Card
		}
		switch {
		case (ev.Op == OpStamp || ev.Op == OpClaim) && serial != "":
			found.add(finding{kind: KindVelocity, severity: SeverityMedium, rule: m.rules.velocityLimit,
				scope: scopeSerial, subject: serial, serial: serial})
		case ev.Op == OpIssue && ev.APIKey != "":
			// A cashier printing punches or coupons for friends.
			found.add(finding{kind: KindInsider, severity: SeverityHigh, rule: m.rules.issueFlood,
				scope: scopeAPIKey, subject: ev.APIKey})
		}
	case "unissued_serial":
		found.add(finding{kind: KindUnissuedSerial, severity: SeverityCritical, rule: m.rules.unissued,
			scope: scopeKey, subject: strconv.FormatUint(uint64(ev.KeyID), 10), serial: ev.Serial})
	case "compromised_key":
		found.add(finding{kind: KindCompromisedKey, severity: SeverityHigh, rule: m.rules.compromised,
			scope: scopeKey, subject: strconv.FormatUint(uint64(ev.KeyID), 10), serial: ev.Serial})
	}
	switch ev.Result {
	case "malformed", "invalid_signature", "unknown_key", "bad_short_code", "unknown_short_code":
		m.countGuess(ev, now, found)
	}
}

// doubleScan reports whether an already_redeemed code was spent at the same
// register less than ReplayGrace ago: a second scan of the same coupon.
func (m *Monitor) doubleScan(ev *Event, now int64) bool {
	k := subjectKey{ev.Merchant, ev.Serial, scopeSerial}
	sh := m.shard(ev.Serial)
	m.lock(sh, now)
	s := sh.codes[k]
	sh.mu.Unlock()
	if s.spentAt == 0 || now-s.spentAt >= int64(m.cfg.ReplayGrace) {
		return false
	}
	return !differentPlace(&use{register: s.spentRegister, apiKey: s.spentAPIKey}, &use{register: ev.Register, apiKey: ev.APIKey})
}

// countGuess counts an invalid code against its register and its source
// address, throttles whichever went over, and reports guessing for it.
func (m *Monitor) countGuess(ev *Event, now int64, found *findings) {
	raised := false
	for _, k := range [2]subjectKey{{ev.Merchant, ev.Register, scopeRegister}, {ev.Merchant, ev.Source, scopeSource}} {
		if k.id == "" {
			continue
		}
		limit := m.cfg.GuessLimit
		if k.scope == scopeSource {
			limit = m.cfg.SourceGuessLimit
		}
		sh := m.shard(k.id)
		m.lock(sh, now)
		o := sh.offenders[k]
		if o == nil {
			o = &offender{hits: make([]int64, limit)}
			sh.offenders[k] = o
		}
		over, was := o.hit(now, int64(m.cfg.GuessWindow)), o.until > now
		if over {
			o.until = now + int64(m.cfg.ThrottleFor)
		}
		until := o.until
		sh.mu.Unlock()
		if !raised && (over || was) {
			raised = true
			f := finding{kind: KindGuessing, severity: SeverityMedium, rule: m.rules.guessing,
				scope: k.scope, subject: k.id, serial: ev.Serial, throttledUntil: until}
			if !was {
				// The codes that crossed the threshold belong to the incident too.
				f.weight = limit
			}
			found.add(f)
		}
	}
}
