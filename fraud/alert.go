package fraud

import (
	"slices"
	"time"
)

// Alert kinds.
const (
	KindCounterfeit    = "counterfeit"     // bad signature, unknown key, another merchant's code
	KindReplay         = "replay"          // a used code presented again
	KindDuplicateCard  = "duplicate_card"  // one card in two places at once
	KindVelocity       = "velocity"        // more uses of one code than a window allows
	KindUnissuedSerial = "unissued_serial" // valid signature, serial never issued: key leak
	KindCompromisedKey = "compromised_key" // code signed by a key marked compromised
	KindGuessing       = "guessing"        // many invalid codes from one register or address
	KindInsider        = "insider"         // a register favouring the same few cards
	KindClonedCard     = "cloned_card"     // one card used in a way one person cannot
)

// Kinds lists every alert kind.
var Kinds = []string{KindCounterfeit, KindReplay, KindDuplicateCard, KindVelocity,
	KindUnissuedSerial, KindCompromisedKey, KindGuessing, KindInsider, KindClonedCard}

// Alert severities, least severe first.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Alert statuses.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
	// StatusNoted is a record kept at low severity that is not an incident
	// for review: an honest customer showing a coupon used long ago.
	StatusNoted = "noted"
)

// severityRank orders severities; unknown ones rank 0.
func severityRank(s string) int {
	switch s {
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return 0
}

// Alert is one incident: every occurrence of the same kind about the same
// card, register, address or key while it is open. Serial is the card or
// code it is about; for an incident about a register, address or key it is
// the first serial seen, if any.
type Alert struct {
	ID         string      `json:"id"`
	Kind       string      `json:"kind"`
	Severity   string      `json:"severity"`
	Serial     string      `json:"serial"`
	Merchant   string      `json:"merchant"`
	CreatedAt  time.Time   `json:"created_at"`
	LastSeen   time.Time   `json:"last_seen"`
	Count      int         `json:"count"`
	Status     string      `json:"status"`
	Evidence   Evidence    `json:"evidence"`
	Resolution *Resolution `json:"resolution,omitempty"`
}

// Evidence is what the detectors saw. Every list holds at most
// Config.EvidenceLimit entries (the first distinct ones; for Times the most
// recent). It never holds a code: only serials, key ids and hash prefixes.
type Evidence struct {
	Rules          []string       `json:"rules"`                 // the rules that fired
	Registers      []string       `json:"registers,omitempty"`   // register labels involved (as the clients named them)
	Shops          []string       `json:"shops,omitempty"`       // shops of the API keys involved
	Rewards        int            `json:"rewards,omitempty"`     // reward coupons paid out by the uses in this incident
	Sources        []string       `json:"sources,omitempty"`     // client addresses involved
	APIKeys        []string       `json:"api_keys,omitempty"`    // ids of the API keys used
	Serials        []string       `json:"serials,omitempty"`     // serials presented
	CodeHashes     []string       `json:"code_hashes,omitempty"` // SHA-256 prefixes of the codes presented
	KeyIDs         []uint32       `json:"key_ids,omitempty"`     // signing key ids seen
	Results        map[string]int `json:"results,omitempty"`     // verification results and how often; sums to count
	Times          []time.Time    `json:"times,omitempty"`       // when, most recent last
	ThrottledUntil time.Time      `json:"throttled_until,omitzero"`
}

// Resolution is how an auditor closed an alert.
type Resolution struct {
	Note    string    `json:"note"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Verdict Verdict   `json:"verdict,omitempty"`
	// ThrottleLifted is set when resolving lifted the API key's throttle.
	ThrottleLifted bool `json:"throttle_lifted,omitempty"`
}

func addString(list []string, s string, limit int) []string {
	if s == "" || len(list) >= limit || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func (e *Evidence) addTime(t time.Time, limit int) {
	e.Times = append(e.Times, t)
	if n := len(e.Times) - limit; n > 0 {
		e.Times = append(e.Times[:0], e.Times[n:]...)
	}
}

// merge adds o to e; o is only read.
func (e *Evidence) merge(o *Evidence, limit int) {
	for _, p := range []struct{ dst, src *[]string }{
		{&e.Rules, &o.Rules}, {&e.Registers, &o.Registers}, {&e.Shops, &o.Shops}, {&e.Sources, &o.Sources},
		{&e.APIKeys, &o.APIKeys}, {&e.Serials, &o.Serials}, {&e.CodeHashes, &o.CodeHashes},
	} {
		for _, s := range *p.src {
			*p.dst = addString(*p.dst, s, limit)
		}
	}
	for _, id := range o.KeyIDs {
		if len(e.KeyIDs) < limit && !slices.Contains(e.KeyIDs, id) {
			e.KeyIDs = append(e.KeyIDs, id)
		}
	}
	for r, n := range o.Results {
		if e.Results == nil {
			e.Results = make(map[string]int, len(o.Results))
		}
		e.Results[r] += n
	}
	for _, t := range o.Times {
		e.addTime(t, limit)
	}
	e.Rewards += o.Rewards
	if o.ThrottledUntil.After(e.ThrottledUntil) {
		e.ThrottledUntil = o.ThrottledUntil
	}
}
