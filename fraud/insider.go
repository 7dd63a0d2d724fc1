package fraud

import "time"

// A till's shift over days: one key giving one card most of its visits for
// days on end, while the key's shop has other tills that serve; and one key
// paying out rewards onto one card faster than stamps from purchases do.

// dayCounts counts a key's visits (stamps and claims) per calendar day
// (UTC) for the last len(n) days.
type dayCounts struct {
	day [8]int64 // the day each slot counts, as days since 1970
	n   [8]int32
}

const dayNanos = int64(24 * time.Hour)

func (d *dayCounts) add(now int64) {
	day := now / dayNanos
	i := day % int64(len(d.n))
	if d.day[i] != day {
		d.day[i], d.n[i] = day, 0
	}
	d.n[i]++
}

// sum counts the visits of the last days days, today included.
func (d *dayCounts) sum(now int64, days int) int {
	today, total := now/dayNanos, 0
	for i := range d.n {
		if d.day[i] > today-int64(days) && d.day[i] <= today {
			total += int(d.n[i])
		}
	}
	return total
}

// favouredOverDays reports whether u's key gave the card InsiderWeekVisits
// visits or more on InsiderWeekDays days or more within CardWindow, more
// than InsiderWeekShare of all its visits. A regular at their favourite
// till makes a share like that too: tillAmongPeers then decides.
func (m *Monitor) favouredOverDays(st *cardState, u *use) bool {
	c := &m.cfg
	mine, total := 1, 1
	// The distinct days of this key's visits, newest first: the uses are
	// in time order, so a new day is one unlike the last one counted.
	days, lastDay := 1, u.at/dayNanos
	lastMine, lastAny := u.at, u.at
	for i := len(st.uses) - 1; i >= 0; i-- {
		p := &st.uses[i]
		if !p.stamping() || u.at-p.at >= int64(c.CardWindow) {
			continue
		}
		if lastAny-p.at >= int64(c.VisitGap) {
			total++
		}
		lastAny = p.at
		if p.apiKey == u.apiKey {
			if lastMine-p.at >= int64(c.VisitGap) {
				mine++
				if d := p.at / dayNanos; d != lastDay {
					days, lastDay = days+1, d
				}
			}
			lastMine = p.at
		}
	}
	return mine >= c.InsiderWeekVisits && days >= c.InsiderWeekDays && float64(mine) > c.InsiderWeekShare*float64(total)
}

// tillAmongPeers reports whether the key stands at a shop whose other
// tills served more than 1-InsiderShopShare of the shop's visits within
// CardWindow: then a card served almost only by this key is this key's
// doing. At a shop of one till (or a key without a shop) every regular's
// card is served by one key, and the rule stays silent.
func (m *Monitor) tillAmongPeers(merchant, keyID string, now int64) bool {
	c := &m.cfg
	m.placesMu.RLock()
	kp, ok := m.keyShops[keyID]
	var peers []string
	if ok && kp.Merchant == merchant {
		for id, p := range m.keyShops {
			if id != keyID && p == kp {
				peers = append(peers, id)
			}
		}
	}
	m.placesMu.RUnlock()
	if len(peers) == 0 {
		return false
	}
	days := int(c.CardWindow / (24 * time.Hour))
	visits := func(id string) int {
		sh := m.shard(id)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if ks := sh.keys[subjectKey{merchant, id, scopeAPIKey}]; ks != nil {
			return ks.visits.sum(now, days)
		}
		return 0
	}
	mine, shop := visits(keyID), 0
	for _, id := range peers {
		shop += visits(id)
	}
	shop += mine
	return shop > 0 && float64(mine) < c.InsiderShopShare*float64(shop)
}

// rewardBurst reports whether u's key paid out InsiderRewards rewards or
// more onto the card within a shift, u's among them: a customer's stamps
// from purchases earn a reward every several visits, a cashier stamping
// their own card earns them at once.
func (m *Monitor) rewardBurst(st *cardState, u *use) bool {
	c := &m.cfg
	if u.rewards == 0 || u.apiKey == "" {
		return false
	}
	n := u.rewards
	for i := len(st.uses) - 1; i >= 0 && u.at-st.uses[i].at < int64(c.Shift); i-- {
		if p := &st.uses[i]; p.apiKey == u.apiKey {
			n += p.rewards
		}
	}
	return n >= c.InsiderRewards
}
