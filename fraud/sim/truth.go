package sim

import (
	"slices"
	"time"
)

// The ground truth of when a careful human could first have told an attack
// from honest use: the figure the target for slow attacks counts
// from. One-request attacks and fast guessing are told by their first
// request. For the others (judgements, stated in docs/detection.md):
//   - slow guessing: the fifth made-up code from one key: more than an
//     honest till mis-scans in a week;
//   - insider stamps: the fourth visit one till gives one card in a shift:
//     a family of two sharing a card makes at most three a day;
//   - insider punches: the third punch claimed onto one card right after
//     its printing at the same shop in a shift: a customer claims one now
//     and then, two is a family's day;
//   - velocity: the third stamp: three visits within forty minutes, which
//     no person or family makes;
//   - copied card: the first stamp (the owner's or a copy's) after which the
//     card's day can no longer be one family of two sharing one paper card:
//     each at most twice a day, one person at two places an hour apart or
//     more, the card handed over an hour or more after its last use. A copy
//     whose days all fit a family is never told: only its strict figure
//     counts.
var tellAt = map[string]int{
	"forged code": 1, "made-up code": 1, "leaked key": 1, "compromised key": 1, "replay": 1, "fast guessing": 1,
	"slow guessing": 5, "very slow guessing": 5, "insider stamps": 4, "insider punches": 6, "velocity": 3, // a punch's print and claim are two requests
	"copied card": 0,
}

// cardUse is one stamp on a watched card.
type cardUse struct {
	at   time.Time
	till string // API key id: a place
}

// noteUse records a stamp on serial if it is a watched (copied) card.
func (w *world) noteUse(serial string, t *till) {
	if uses, ok := w.watched[serial]; ok {
		w.watched[serial] = append(uses, cardUse{w.clock.Now(), t.id})
	}
}

// tell is when a careful human could first have told the attack, or the
// zero time if never.
func (w *world) tell(a *attack) time.Time {
	if a.tellAt > 0 {
		if len(a.times) < a.tellAt {
			return time.Time{}
		}
		return a.times[a.tellAt-1]
	}
	uses := w.watched[a.serial]
	for i, u := range uses {
		if u.at.Before(a.start) {
			continue
		}
		var day []cardUse
		for _, p := range uses[:i+1] {
			if p.at.Truncate(24 * time.Hour).Equal(u.at.Truncate(24 * time.Hour)) {
				day = append(day, p)
			}
		}
		if !oneFamily(day) {
			return u.at
		}
	}
	return time.Time{}
}

// The limits a careful human holds a family to (judgements; the honest
// model's families keep well inside them: one member's visits are two
// hours apart or more, see world.go).
const (
	handOverGap = time.Hour // between two people's uses of one paper card, or one person's at two places
	visitGap    = 2 * time.Minute
)

// oneFamily reports whether one day's uses of a card, in time order, can be
// two people's at most, each visiting at most twice (again at the same
// till at any time, at another place handOverGap later), the card handed
// over handOverGap after its last use.
func oneFamily(uses []cardUse) bool {
	var visits []cardUse
	for i, u := range uses {
		if i > 0 && u.till == uses[i-1].till && u.at.Sub(uses[i-1].at) < visitGap {
			continue // one visit: a stamp and a claim, a retry
		}
		visits = append(visits, u)
	}
	slices.SortFunc(visits, func(a, b cardUse) int { return a.at.Compare(b.at) })
	n := len(visits)
	if n > 4 {
		return false
	}
	for mask := 0; mask < 1<<n; mask++ { // bit i set: the second person's visit
		fits, count := true, [2]int{}
		var last [2]cardUse
		for i, v := range visits {
			p := mask >> i & 1
			count[p]++
			if count[p] > 2 || (count[p] > 1 && v.till != last[p].till && v.at.Sub(last[p].at) < handOverGap) ||
				(i > 0 && p != mask>>(i-1)&1 && v.at.Sub(visits[i-1].at) < handOverGap) {
				fits = false
				break
			}
			last[p] = v
		}
		if fits {
			return true
		}
	}
	return false
}
