package fraud

import (
	"fmt"
	"strconv"
)

// The detectors. Each rule, in the words an alert's evidence uses, is built
// once from the Config by newRules; rules.go, card.go and keyday.go decide
// when it applies. Who did something is always the authenticated API key:
// the register label and the address are evidence only.
//
//   - counterfeit: a code refused as invalid_signature or unknown_key
//     (high), as wrong_merchant (low: a customer can hand over another
//     shop's card), or a made-up code of stampseal's shape (medium, high
//     in volume). One incident per API key. A mis-scan is not counterfeit.
//   - replay: already_redeemed, unless an idempotent retry, a double scan
//     through the key that used the code less than ReplayGrace before, or
//     the first re-presentation of a code used longer than ReplayStale ago
//     (noted at low severity, not opened). One incident per serial.
//   - duplicate_card and cloned_card (one incident per card, whichever
//     comes first names it): a card at two keys of one shop within
//     DuplicateWindow; at two shops faster than travel allows; more visits
//     or shops in a day, rewards in a week, or days split between shops
//     than one person or family makes. Severity grows with the evidence.
//   - velocity: more stamps, claims or redemptions of one serial within
//     VelocityWindow than VelocityLimit, or more stamps than VelocityStamps,
//     raised as the pattern crosses the line (a program limit refusing a
//     stamp raises it too). One incident per serial.
//   - unissued_serial (critical) and compromised_key (high): the refusal of
//     the same name. One incident per signing key.
//   - guessing: invalid codes from one API key over a minute, an hour, a
//     day, or far above its peers. The key (only it) is throttled. One
//     incident per key.
//   - insider: one key giving one card many visits in a shift; punches
//     claimed onto one card right after they were printed at the same
//     place; stamps on a staff card; a key's large share of a card's
//     stamps (within a day, or over days while the key's shop has other
//     tills); rewards paid out onto one card in a burst; an issuer key
//     minting beyond its limit. One incident per key.
type rules struct {
	counterfeit, shaped, replay, replayStale, duplicate, travel, dayVisits, mixedVisits, tightPlaces, weekRewards,
	velocityLimit, velocityRate, velocityStamps, unissued, compromised,
	guessMinute, guessHour, guessDay, guessPeers,
	insiderShare, insiderQuick, insiderShift, insiderShifts, insiderStaff, issueFlood string
	busyDays, insiderWeek, insiderRewards string
}

func newRules(c Config) rules {
	return rules{
		counterfeit:    "a code with a bad signature, an unknown key or another merchant's name was presented",
		shaped:         "a code of stampseal's shape with no valid content was presented: made up or tampered with",
		replay:         "a code already used was presented again, not as a retry or double scan",
		replayStale:    fmt.Sprintf("a code used more than %v ago was presented again once: an old coupon, noted", c.ReplayStale),
		duplicate:      fmt.Sprintf("one card was used through two tills of one shop within %v", c.DuplicateWindow),
		travel:         fmt.Sprintf("one card was used at two shops faster than a person travels (%.0f km/h plus %v)", c.TravelSpeed, c.TravelSlack),
		dayVisits:      fmt.Sprintf("one card made more than %d visits within 24h", c.DayVisits),
		mixedVisits:    fmt.Sprintf("one card made %d visits in one day at two shops or more", c.MixedVisits),
		tightPlaces:    fmt.Sprintf("one card was used at two places less than %v apart on a day of %d visits or more: a shared card is handed over, a copy is not", c.TightGap, c.TightVisits),
		busyDays:       fmt.Sprintf("one card was used at more than %d shops on %d days within %v: a family's busiest day, again and again", c.DayShops, c.BusyDays, c.CardWindow),
		weekRewards:    fmt.Sprintf("one card earned more than %d rewards within %v", c.WeekRewards, c.CardWindow),
		velocityLimit:  "a stamp or claim went over the program's limit",
		velocityRate:   fmt.Sprintf("more than %d stamps, claims or redemptions of one code within %v", c.VelocityLimit, c.VelocityWindow),
		velocityStamps: fmt.Sprintf("more than %d stamps on one card within %v", c.VelocityStamps, c.VelocityWindow),
		unissued:       "a validly signed code carries a serial that was never issued: the signing key has leaked",
		compromised:    "a code signed by a key marked compromised was presented",
		guessMinute:    fmt.Sprintf("%d invalid codes within %v from one API key", c.GuessLimit, c.GuessWindow),
		guessHour:      fmt.Sprintf("%d invalid codes within an hour from one API key", c.GuessHour),
		guessDay:       fmt.Sprintf("%d invalid codes within a day from one API key", c.GuessDay),
		guessPeers:     fmt.Sprintf("at least %d invalid codes in a day from one API key, %.0f times the rate of the merchant's other keys", c.PeerMin, c.PeerFactor),
		insiderShare:   fmt.Sprintf("one API key did more than %.0f%% of a card's stamps and claims (at least %d within %v)", c.InsiderShare*100, c.InsiderMinStamps, c.InsiderWindow),
		insiderQuick:   fmt.Sprintf("%d punches went onto one card within %v, each claimed less than %v after it was printed at the same place", c.InsiderQuickClaims, c.Shift, c.QuickClaim),
		insiderShift:   fmt.Sprintf("one API key gave one card %d visits within a %v shift", c.ShiftVisits, c.Shift),
		insiderShifts:  fmt.Sprintf("one API key gave one card %d visits within a %v shift on two days", c.ShiftVisitsRepeat, c.Shift),
		insiderStaff:   "a staff card collected stamps",
		insiderWeek: fmt.Sprintf("one API key gave one card %d visits or more on %d days or more within %v, more than %.0f%% of its visits, while the other tills of its shop served more than %.0f%% of the shop's visits",
			c.InsiderWeekVisits, c.InsiderWeekDays, c.CardWindow, c.InsiderWeekShare*100, (1-c.InsiderShopShare)*100),
		insiderRewards: fmt.Sprintf("one API key paid out %d rewards or more onto one card within a %v shift", c.InsiderRewards, c.Shift),
		issueFlood:     "an issuer key minted credentials beyond its rate limit",
	}
}

// finding is one detector's verdict on one event.
type finding struct {
	kind, severity, rule string
	scope, subject       string // what the incident is about
	serial               string
	weight               int    // occurrences it stands for; 0 means 1
	otherRegister        string // the register label of an earlier use
	otherShop, shop      string
	otherAt              int64
	rewards              int
	throttledUntil       int64
	noted                bool // recorded at low severity, not opened for review
}

// findings is a fixed array so that Observe does not allocate for them.
type findings struct {
	list [8]finding
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
// reports whether a claim is a quick self-claim: less than QuickClaim after
// the punch was printed at the same place.
func (m *Monitor) noteCode(ev *Event, now int64) (quickSelfClaim bool) {
	if ev.Serial == "" {
		return false
	}
	shop := m.ShopOf(ev.APIKey)
	k := subjectKey{ev.Merchant, ev.Serial, scopeSerial}
	sh := m.shard(ev.Serial)
	m.lock(sh, now)
	defer sh.mu.Unlock()
	s := sh.codes[k]
	if ev.Op == OpIssue {
		s.issuedAt, s.issuedRegister, s.issuedKey, s.issuedSource, s.issuedShop = now, ev.Register, ev.APIKey, ev.Source, shop
	} else {
		quickSelfClaim = ev.Op == OpClaim && s.issuedAt != 0 && now-s.issuedAt < int64(m.cfg.QuickClaim) &&
			(same(s.issuedShop, shop) || same(s.issuedRegister, ev.Register) || same(s.issuedKey, ev.APIKey) || same(s.issuedSource, ev.Source))
		s.spentAt, s.spentAPIKey, s.spentShop, s.spentRegister = now, ev.APIKey, shop, ev.Register
	}
	sh.codes[k] = s
	return quickSelfClaim
}

// same reports whether two names are known and equal.
func same(a, b string) bool { return a != "" && a == b }

// observeRefusal runs the detectors that look at refused codes.
func (m *Monitor) observeRefusal(ev *Event, now int64, found *findings) {
	switch ev.Result {
	case ReasonInvalidSignature, ReasonUnknownKey, ReasonWrongMerchant:
		sev := SeverityHigh
		if ev.Result == ReasonWrongMerchant {
			sev = SeverityLow
		}
		found.add(finding{kind: KindCounterfeit, severity: sev, rule: m.rules.counterfeit,
			scope: scopeAPIKey, subject: ev.APIKey, serial: ev.Serial})
	case ReasonAlreadyRedeemed:
		if ev.Serial != "" && !ev.Offline {
			m.checkReplay(ev, now, found)
		}
	case ReasonLimitExceeded:
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
	case ReasonUnissued:
		found.add(finding{kind: KindUnissuedSerial, severity: SeverityCritical, rule: m.rules.unissued,
			scope: scopeKey, subject: strconv.FormatUint(uint64(ev.KeyID), 10), serial: ev.Serial})
	case ReasonCompromisedKey:
		found.add(finding{kind: KindCompromisedKey, severity: SeverityHigh, rule: m.rules.compromised,
			scope: scopeKey, subject: strconv.FormatUint(uint64(ev.KeyID), 10), serial: ev.Serial})
	}
}

// checkReplay decides what an already_redeemed code is: a double scan
// (nothing), an old coupon shown once (noted), or a replay.
func (m *Monitor) checkReplay(ev *Event, now int64, found *findings) {
	k := subjectKey{ev.Merchant, ev.Serial, scopeSerial}
	sh := m.shard(ev.Serial)
	m.lock(sh, now)
	s := sh.codes[k]
	spentAt := s.spentAt
	if spentAt == 0 && !ev.FirstUseAt.IsZero() {
		spentAt = ev.FirstUseAt.UnixNano()
	}
	// The label can only make a replay more likely, never hide one: a key
	// naming another register than the one it used is not double-scanning.
	doubleScan := s.spentAt != 0 && now-s.spentAt < int64(m.cfg.ReplayGrace) && same(s.spentAPIKey, ev.APIKey) &&
		(s.spentRegister == "" || ev.Register == "" || s.spentRegister == ev.Register)
	stale := spentAt != 0 && now-spentAt >= int64(m.cfg.ReplayStale) && s.notedAt == 0
	if stale {
		s.notedAt = now
		sh.codes[k] = s
	}
	sh.mu.Unlock()
	switch {
	case doubleScan:
	case stale:
		found.add(finding{kind: KindReplay, severity: SeverityLow, rule: m.rules.replayStale,
			scope: scopeSerial, subject: ev.Serial, serial: ev.Serial, otherRegister: ev.FirstUse, otherAt: spentAt, noted: true})
	default:
		found.add(finding{kind: KindReplay, severity: SeverityMedium, rule: m.rules.replay,
			scope: scopeSerial, subject: ev.Serial, serial: ev.Serial, otherRegister: ev.FirstUse, otherAt: spentAt})
	}
}
