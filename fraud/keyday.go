package fraud

import "time"

// A key's day: invalid codes per authenticated API key over a minute, an
// hour and a day, against the merchant's other keys, and its throttle.

// keyDay counts the event against its API key (and the merchant's totals,
// for peer comparison) and raises guessing and made-up-code counterfeit.
func (m *Monitor) keyDay(ev *Event, now int64, found *findings) {
	if ev.APIKey == "" {
		return
	}
	c := &m.cfg
	invalid := ev.Result.invalid()
	// Every invalid code counts and may throttle the key: the throttle
	// refuses only what could be a guess (see verify.Guessable), so a till
	// whose scanner misreads is never kept from serving a real card. The
	// comparison with peers counts only what could be a guess at a real
	// code, not mis-scans or a short code's typos.
	serious := invalid && !(ev.Result == ReasonMalformed && !ev.Shaped) && ev.Result != ReasonBadShortCode
	throttles := invalid

	// The merchant's totals first, so that the key compares with its peers
	// as they stand before this event.
	mk := subjectKey{ev.Merchant, "", scopeMerchant}
	msh := m.shard("merchant/" + ev.Merchant)
	m.lock(msh, now)
	tot := msh.keys[mk]
	if tot == nil {
		tot = &keyState{}
		msh.keys[mk] = tot
	}
	tot.rollDay(now)
	tot.requests++
	if serious {
		tot.invalid++
	}
	allReq, allInv := tot.requests, tot.invalid
	msh.mu.Unlock()

	k := subjectKey{ev.Merchant, ev.APIKey, scopeAPIKey}
	sh := m.shard(ev.APIKey)
	m.lock(sh, now)
	ks := sh.keys[k]
	if ks == nil {
		ks = &keyState{minute: newRing(c.GuessLimit), throttling: newRing(c.GuessLimit), hour: newRing(c.GuessHour),
			day: newRing(c.GuessDay), shaped: newRing(c.ShapedLimit)}
		sh.keys[k] = ks
	}
	ks.rollDay(now)
	ks.requests++
	if ev.Result == ResultOK && (ev.Op == OpStamp || ev.Op == OpClaim) {
		ks.visits.add(now)
	}
	if !invalid {
		sh.mu.Unlock()
		return
	}
	if serious {
		ks.invalid++
	}
	hour := int64(time.Hour)
	var rule string
	var weight int
	overMinute := ks.minute.hit(now, int64(c.GuessWindow))
	overHour := ks.hour.hit(now, hour)
	overDay := ks.day.hit(now, 24*hour)
	overThrottle := throttles && ks.throttling.hit(now, int64(c.GuessWindow))
	peerReq, peerInv := allReq-ks.requests, allInv-ks.invalid
	peerRate := 0.005 // the floor: an honest till's bad-scan rate at most
	if peerReq > 0 {
		peerRate = max(peerRate, float64(peerInv)/float64(peerReq))
	}
	overPeers := ks.invalid >= c.PeerMin && float64(ks.invalid)/float64(ks.requests) > c.PeerFactor*peerRate
	switch {
	case overMinute:
		rule, weight = m.rules.guessMinute, c.GuessLimit
	case overHour:
		rule, weight = m.rules.guessHour, c.GuessHour
	case overDay:
		rule, weight = m.rules.guessDay, c.GuessDay
	case overPeers:
		rule, weight = m.rules.guessPeers, ks.invalid
	}
	was := ks.until > now
	if throttles && (overThrottle || overHour || overDay || overPeers) {
		ks.until = now + int64(c.ThrottleFor)
	}
	until := ks.until
	first := rule != "" && !ks.alerted
	if rule != "" {
		ks.alerted = true
	}
	shapedMany := ev.Shaped && ks.shaped.hit(now, hour)
	sh.mu.Unlock()

	if rule != "" || was {
		if !first {
			// The codes that crossed a threshold belong to the incident
			// once; later ones add one each.
			weight = 0
		}
		if rule == "" {
			rule = m.rules.guessMinute
		}
		found.add(finding{kind: KindGuessing, severity: SeverityMedium, rule: rule,
			scope: scopeAPIKey, subject: ev.APIKey, serial: ev.Serial, weight: weight, throttledUntil: until})
	}
	if ev.Shaped {
		sev := SeverityMedium
		if shapedMany {
			sev = SeverityHigh
		}
		found.add(finding{kind: KindCounterfeit, severity: sev, rule: m.rules.shaped, scope: scopeAPIKey, subject: ev.APIKey})
	}
}

// Throttled reports whether the merchant's API key keyID is in a guessing
// penalty, and for how much longer. Only that key is ever throttled: a
// register label or an address never is, so one key's flood cannot lock
// out another key, even behind the same address.
func (m *Monitor) Throttled(merchant, keyID string) (retryAfter time.Duration, throttled bool) {
	if keyID == "" {
		return 0, false
	}
	now := m.now().UnixNano()
	k := subjectKey{merchant, keyID, scopeAPIKey}
	sh := m.shard(keyID)
	sh.mu.Lock()
	var until int64
	if o := sh.keys[k]; o != nil {
		until = o.until
	}
	sh.mu.Unlock()
	if until <= now {
		return 0, false
	}
	return time.Duration(until - now), true
}

// LiftThrottle ends the merchant's API key's guessing penalty at once and
// reports whether there was one. Its counts start afresh, so that the very
// next invalid code does not throttle it again.
func (m *Monitor) LiftThrottle(merchant, keyID string) bool {
	k := subjectKey{merchant, keyID, scopeAPIKey}
	sh := m.shard(keyID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	o := sh.keys[k]
	if o == nil {
		return false
	}
	lifted := o.until > m.now().UnixNano()
	c := &m.cfg
	o.until = 0
	o.minute, o.throttling, o.hour, o.day = newRing(c.GuessLimit), newRing(c.GuessLimit), newRing(c.GuessHour), newRing(c.GuessDay)
	o.invalid, o.alerted = 0, false
	return lifted
}
