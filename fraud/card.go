package fraud

import "time"

// A card's life and a till's shift: the rules over one card's recent uses.

// checkCard runs duplicate_card, cloned_card, velocity and insider over one
// successful use of serial, then records the use.
func (m *Monitor) checkCard(ev *Event, serial string, now int64, quick bool, found *findings) {
	shop := ""
	if p, ok := m.placeOf(ev.Merchant, ev.APIKey); ok {
		shop = p.id
	}
	staff := (ev.Op == OpStamp || ev.Op == OpClaim) && m.isStaff(ev.Merchant, serial)
	k := subjectKey{ev.Merchant, serial, scopeSerial}
	sh := m.shard(serial)
	m.lock(sh, now)
	u, favoured := m.cardRules(sh, k, ev, serial, shop, staff, now, quick, found)
	sh.mu.Unlock()
	// The till's share of its shop is read from the keys' shards, so only
	// once the card's shard is unlocked.
	if favoured && m.tillAmongPeers(ev.Merchant, ev.APIKey, now) {
		found.add(m.insider(&u, serial, m.rules.insiderWeek))
	}
}

// cardRules runs the card's rules with its shard locked, records the use,
// and reports whether the use's key gives the card most of its visits over
// days (insiderWeek, still to be weighed against the key's peers).
func (m *Monitor) cardRules(sh *shard, k subjectKey, ev *Event, serial, shop string, staff bool, now int64, quick bool, found *findings) (u use, favoured bool) {
	c := &m.cfg
	st := sh.cards[k]
	if st == nil {
		st = &cardState{}
		sh.cards[k] = st
	}
	st.uses = dropBefore(st.uses, now-m.cardHorizon(), func(u *use) int64 { return u.at })
	m.learnUse(ev, st, now) // a use made through another node (fleet.go)
	u = use{at: now, op: ev.Op, register: ev.Register, apiKey: ev.APIKey, shop: shop, stamps: ev.Stamps, rewards: ev.Rewards}
	card := func(kind, sev, rule string) finding {
		return finding{kind: kind, severity: sev, rule: rule, scope: scopeSerial, subject: serial, serial: serial, shop: shop}
	}

	isCard := ev.Kind == "card" || ev.Op == OpStamp || ev.Op == OpClaim
	if isCard {
		m.placesRule(ev.Merchant, st, &u, card, found)
	}
	if u.spends() {
		recent, stamps := 1, u.stamps
		for i := range st.uses {
			p := &st.uses[i]
			if now-p.at < int64(c.VelocityWindow) && p.spends() {
				recent++
				stamps += p.stamps
			}
		}
		switch {
		case recent > c.VelocityLimit:
			found.add(card(KindVelocity, SeverityMedium, m.rules.velocityRate))
		case u.stamping() && stamps > c.VelocityStamps:
			found.add(card(KindVelocity, SeverityMedium, m.rules.velocityStamps))
		}
	}
	if u.stamping() {
		m.lifeRules(st, &u, card, found)
		favoured = m.shiftRules(st, &u, serial, found)
		if staff {
			found.add(m.insider(&u, serial, m.rules.insiderStaff))
		}
	}
	if quick {
		st.quick = dropBefore(st.quick, now-int64(c.Shift), func(t *int64) int64 { return *t })
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
	return u, favoured
}

// placesRule: the same card through two keys of one shop (or of no shop)
// within DuplicateWindow, or at two shops faster than travel allows.
func (m *Monitor) placesRule(merchant string, st *cardState, u *use, card func(kind, sev, rule string) finding, found *findings) {
	for i := len(st.uses) - 1; i >= 0; i-- {
		p := &st.uses[i]
		age := time.Duration(u.at - p.at)
		// One key naming two registers is two tills as far as a copy goes:
		// the label can raise an alert, never hide one.
		relabelled := p.apiKey == u.apiKey && p.register != "" && u.register != "" && p.register != u.register
		if p.apiKey == "" || u.apiKey == "" || (p.apiKey == u.apiKey && !relabelled) {
			continue
		}
		var f finding
		switch {
		case p.shop != "" && u.shop != "" && p.shop != u.shop:
			if age >= m.travelTime(merchant, p.shop, u.shop) {
				continue
			}
			f = card(KindClonedCard, SeverityHigh, m.rules.travel)
		case p.shop == u.shop && age < m.cfg.DuplicateWindow:
			f = card(KindDuplicateCard, SeverityHigh, m.rules.duplicate)
		default:
			continue
		}
		f.otherRegister, f.otherShop, f.otherAt = p.register, p.shop, p.at
		found.add(f)
		return
	}
}

// lifeRules compare the card's day and week with what one person, or a
// family sharing a paper card (one pocket at a time, each at most twice a
// day), does. Days are calendar days (UTC): a copy's holders each keep
// their own day.
func (m *Monitor) lifeRules(st *cardState, u *use, card func(kind, sev, rule string) finding, found *findings) {
	c := &m.cfg
	day := int64(24 * time.Hour)
	visits, last := 1, u.at // within 24 h
	rewards := u.rewards    // within the card window
	today, todayVisits, todayLast := u.at/day, 1, u.at
	twoShops := false // today
	// tight: two of today's uses at two places (shops, or tills of one
	// shop) less than TightGap apart. Neighbours suffice: a closer pair
	// has a change of place between closer neighbours. One till's quick
	// visits are velocity's and insider's business, not a copy's.
	tight, next := false, u
	for i := len(st.uses) - 1; i >= 0; i-- {
		p := &st.uses[i]
		if !p.stamping() {
			continue
		}
		rewards += p.rewards
		if p.at/day == today {
			if todayLast-p.at >= int64(c.VisitGap) {
				todayVisits++
			}
			todayLast = p.at
			if p.shop != "" && p.shop != u.shop {
				twoShops = true
			}
			if next.at-p.at < int64(c.TightGap) && p.apiKey != "" && next.apiKey != "" && (p.shop != next.shop || p.apiKey != next.apiKey) {
				tight = true
			}
			next = p
		}
		if u.at-p.at < day {
			if last-p.at >= int64(c.VisitGap) {
				visits++
			}
			last = p.at
		}
	}
	var f finding
	switch {
	case visits > c.DayVisits:
		f = card(KindClonedCard, SeverityMedium, m.rules.dayVisits)
	case todayVisits >= c.MixedVisits && twoShops:
		f = card(KindClonedCard, SeverityMedium, m.rules.mixedVisits)
	case tight && todayVisits >= c.TightVisits:
		f = card(KindClonedCard, SeverityMedium, m.rules.tightPlaces)
	case rewards > c.WeekRewards:
		f = card(KindClonedCard, SeverityMedium, m.rules.weekRewards)
	case m.busyDays(st, u) >= c.BusyDays:
		f = card(KindClonedCard, SeverityMedium, m.rules.busyDays)
	default:
		return
	}
	f.rewards = u.rewards
	found.add(f)
}

// shiftRules look at one key's stamps on one card: many visits within a
// shift, or a large share of the card's stamps in a day.
func (m *Monitor) shiftRules(st *cardState, u *use, serial string, found *findings) (favoured bool) {
	c := &m.cfg
	if u.apiKey == "" {
		return false
	}
	shift := int64(c.Shift)
	// Visits by this key, counted per shift-long bucket back from now.
	buckets := map[int64]int{0: 1}
	last := u.at
	mine, total := 1, 1
	for i := len(st.uses) - 1; i >= 0; i-- {
		p := &st.uses[i]
		if !p.stamping() {
			continue
		}
		if u.at-p.at < int64(c.InsiderWindow) {
			total++
			if p.apiKey == u.apiKey {
				mine++
			}
		}
		if p.apiKey != u.apiKey {
			continue
		}
		if last-p.at >= int64(c.VisitGap) {
			buckets[(u.at-p.at)/shift]++
		}
		last = p.at
	}
	repeat := 0
	for b, n := range buckets {
		if b > 0 && n >= c.ShiftVisitsRepeat {
			repeat++
		}
	}
	switch {
	case buckets[0] >= c.ShiftVisits:
		found.add(m.insider(u, serial, m.rules.insiderShift))
	case buckets[0] >= c.ShiftVisitsRepeat && repeat > 0:
		found.add(m.insider(u, serial, m.rules.insiderShifts))
	case total >= c.InsiderMinStamps && float64(mine) > c.InsiderShare*float64(total):
		found.add(m.insider(u, serial, m.rules.insiderShare))
	case m.rewardBurst(st, u):
		found.add(m.insider(u, serial, m.rules.insiderRewards))
	default:
		return m.favouredOverDays(st, u)
	}
	return false
}

func (m *Monitor) insider(u *use, card, rule string) finding {
	return finding{kind: KindInsider, severity: SeverityMedium, rule: rule, scope: scopeAPIKey, subject: u.apiKey, serial: card, shop: u.shop}
}

// busyDays counts the days within CardWindow on which the card had a
// family's busiest day: more than DayShops shops, or MixedVisits-1 visits
// at two shops or more. It is 0 unless u's day is one of them: the rule
// fires on the day that repeats the pattern.
func (m *Monitor) busyDays(st *cardState, u *use) int {
	c := &m.cfg
	type dayUse struct {
		visits int
		last   int64
		shops  [4]string // the first few distinct shops; more than four count as four
		nShops int
	}
	var days [8]dayUse
	var ids [8]int64
	add := func(p *use) {
		d := p.at / dayNanos
		i := d % int64(len(days))
		if ids[i] != d {
			ids[i], days[i] = d, dayUse{}
		}
		e := &days[i]
		if e.visits == 0 || e.last-p.at >= int64(c.VisitGap) || p.at-e.last >= int64(c.VisitGap) {
			e.visits++
		}
		e.last = p.at
		if p.shop == "" {
			return
		}
		for _, s := range e.shops[:min(e.nShops, len(e.shops))] {
			if s == p.shop {
				return
			}
		}
		if e.nShops < len(e.shops) {
			e.shops[e.nShops] = p.shop
		}
		e.nShops++
	}
	busy := func(e *dayUse) bool {
		return e.nShops > c.DayShops
	}
	add(u)
	for i := len(st.uses) - 1; i >= 0; i-- {
		p := &st.uses[i]
		if p.stamping() && u.at-p.at < int64(c.CardWindow) && p.at/dayNanos > u.at/dayNanos-int64(len(days)) {
			add(p)
		}
	}
	today := &days[(u.at/dayNanos)%int64(len(days))]
	if !busy(today) {
		return 0
	}
	n := 0
	for i := range days {
		if ids[i] != 0 && busy(&days[i]) {
			n++
		}
	}
	return n
}
