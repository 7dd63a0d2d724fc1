package fraud

// Several nodes over one shared ledger: each node's monitor sees only the
// events of its own requests, so a card used through node A and then
// through node B would look like one use to each. The ledger keeps the
// card's last use in the same transaction as each use and hands it to the
// detectors with the next use (Event.Before): learnUse puts a use made
// through another node into the card's recent history before the rules
// look at it. On a single node Before is empty: the monitor saw every use.

// learnUse adds ev.Before to the card's history unless it is known already
// or too old to matter. Called with the card's shard locked.
func (m *Monitor) learnUse(ev *Event, st *cardState, now int64) {
	b := &ev.Before
	if b.At.IsZero() || b.APIKey == "" {
		return
	}
	at := b.At.UnixNano()
	if at >= now || at < now-m.cardHorizon() {
		return
	}
	i := len(st.uses)
	for i > 0 && st.uses[i-1].at >= at {
		if p := &st.uses[i-1]; p.at == at && p.apiKey == b.APIKey {
			return // this node made it
		}
		i--
	}
	u := use{at: at, op: b.Op, register: b.Register, apiKey: b.APIKey}
	if p, ok := m.placeOf(ev.Merchant, b.APIKey); ok {
		u.shop = p.id
	}
	if len(st.uses) == maxHistory {
		if i == 0 {
			return // older than all that is kept
		}
		copy(st.uses, st.uses[1:i]) // the oldest goes
		st.uses[i-1] = u
		return
	}
	st.uses = append(st.uses, use{})
	copy(st.uses[i+1:], st.uses[i:])
	st.uses[i] = u
}
