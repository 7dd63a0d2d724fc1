package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
)

// attack is one injected attack with its ground truth: what it is, what
// it touches, which alert kinds catch it, and when it began and was caught.
type attack struct {
	kind     string   // the attack's name
	kinds    []string // alert kinds that catch it
	slow     bool     // a slow attack: the target is a day, not a minute
	merchant string
	serial   string // the card or code it is about, if any
	keyID    string // the API key it is about, if any
	signKey  uint32 // the signing key it is about, if any (a leaked key)
	start    time.Time
	detected time.Time
	requests int
	times    []time.Time // of its requests
	// tellAt is the request (1 for the first) from which a careful human
	// could have told; 0: from the card's record (copied cards, truth.go).
	tellAt int
	// r draws what the attack decides while it runs (guesses, tampering):
	// a stream of its own, so that what it draws, which can depend on the
	// service's random keys, never shifts the honest customers' draws.
	r *rand.Rand
}

// The attack kinds, in the report's order.
var attackKinds = []string{"forged code", "made-up code", "leaked key", "compromised key", "replay",
	"fast guessing", "slow guessing", "very slow guessing", "copied card", "insider stamps", "insider punches", "velocity"}

// step puts one request of an attack on the timeline.
func (w *world) step(a *attack, at time.Time, do func(w *world)) {
	w.add(action{at: at, attack: a, do: func(w *world) {
		if a.start.IsZero() {
			a.start = w.clock.Now()
		}
		a.requests++
		a.times = append(a.times, w.clock.Now())
		do(w)
	}})
}

func (w *world) newAttack(kind string, slow bool, kinds ...string) *attack {
	a := &attack{kind: kind, kinds: kinds, slow: slow, merchant: merchant, tellAt: tellAt[kind],
		r: rand.New(rand.NewPCG(w.cfg.Seed, 0xa77ac<<16|uint64(len(w.attacks))))}
	w.attacks = append(w.attacks, a)
	return a
}

// someDay is a random time within opening hours of a day in [2, Days-8).
func (w *world) someDay(start time.Time) time.Time {
	d := 1 + w.r.IntN(max(1, w.cfg.Days-9))
	// A float of hours: converted whole, attacks began on the hour only.
	return start.Add(time.Duration(d)*24*time.Hour + time.Duration((8+w.r.Float64()*9)*float64(time.Hour)))
}

func (w *world) randomTill() *till {
	sh := w.shops[w.r.IntN(len(w.shops))]
	return sh.tills[w.r.IntN(len(sh.tills))]
}

// stolenKey is a register key of a shop that an attacker holds: a spare
// till's key, so that its honest twin is not the one throttled.
func (w *world) stolenKey(shop int) (*till, error) {
	a, err := w.svc.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": merchant, "role": "register",
		"name": "spare till", "shop": w.shops[shop].id})
	if err != nil {
		return nil, err
	}
	return &till{shop: shop, id: a.str("id"), token: a.str("token"), label: label(shop, 0), source: fmt.Sprintf("10.0.%d.1", shop+1)}, nil
}

// newCard issues a card for an attacker (a cashier's own, a velocity mule).
func (w *world) newCard() (code, serial string, err error) {
	a, err := w.svc.must(201, "POST", "/v1/cards", w.issuer, map[string]any{"merchant": merchant, "program": "coffee"})
	return a.str("code"), a.str("serial"), err
}

// tamper changes one character of a code's signature so that it still
// parses: a forged code whose signature does not verify.
func tamper(r *rand.Rand, code string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := []byte(code)
	for try := 0; try < 500; try++ {
		i := len(b) - 3 - r.IntN(40)
		old := b[i]
		b[i] = alphabet[r.IntN(len(alphabet))]
		if s := string(b); s != code {
			if _, err := credential.Parse(s); err == nil {
				return s
			}
		}
		b[i] = old
	}
	return code[:len(code)-2] + "00"
}

// madeUp is a code of stampseal's shape with made-up content.
func madeUp(r *rand.Rand) string {
	claims, sig := make([]byte, 30+r.IntN(20)), make([]byte, 70)
	for i := range claims {
		claims[i] = byte(r.IntN(256))
	}
	for i := range sig {
		sig[i] = byte(r.IntN(256))
	}
	return credential.Encode(claims, sig)
}

// guess is what a guesser sends: a made-up short code or a made-up code.
func guess(r *rand.Rand) map[string]any {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	if r.IntN(2) == 0 {
		var b strings.Builder
		for i := range 12 {
			if i > 0 && i%4 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		return map[string]any{"short_code": b.String()}
	}
	return map[string]any{"code": madeUp(r)}
}

func (w *world) setupKiosk() error {
	s := w.svc
	if _, err := s.must(201, "POST", "/v1/merchants", adminToken, map[string]any{"id": "kiosk", "name": "Station Kiosk"}); err != nil {
		return err
	}
	reg, err := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "kiosk", "role": "register", "name": "kiosk till"})
	if err != nil {
		return err
	}
	iss, err := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "kiosk", "role": "issuer", "name": "kiosk pos"})
	if err != nil {
		return err
	}
	w.kiosk.till = &till{id: reg.str("id"), token: reg.str("token"), label: "kiosk", source: "10.0.9.1"}
	a, err := s.must(201, "POST", "/v1/coupons", iss.str("token"), map[string]any{"merchant": "kiosk", "offer": "a newspaper",
		"valid_for": fmt.Sprintf("%dh", (w.cfg.Days+2)*24), "max_uses": 1, "count": max(1, w.cfg.Attacks)})
	if err != nil {
		return err
	}
	for _, c := range a.body["coupons"].([]any) {
		w.kiosk.coupons = append(w.kiosk.coupons, c.(map[string]any)["code"].(string))
	}
	// The kiosk's signing key was copied from a stolen laptop.
	_, err = s.must(200, "POST", "/v1/merchants/kiosk/keys/rotate", adminToken, map[string]any{"compromised": true})
	return err
}

// planAttacks puts cfg.Attacks attacks of every kind on the timeline.
func (w *world) planAttacks(start time.Time) error {
	n := w.cfg.Attacks
	for i := range n {
		// One-request attacks.
		{
			a, t, c := w.newAttack("forged code", false, fraud.KindCounterfeit), w.randomTill(), w.people[w.r.IntN(len(w.people))]
			a.keyID = t.id
			w.step(a, w.someDay(start), func(w *world) {
				w.svc.call("POST", "/v1/cards/stamp", t.token, t.source, map[string]any{"card_code": tamper(a.r, c.card), "stamps": 1, "register": t.label})
			})
		}
		{
			a, t := w.newAttack("made-up code", false, fraud.KindCounterfeit), w.randomTill()
			a.keyID = t.id
			w.step(a, w.someDay(start), func(w *world) {
				w.svc.call("POST", "/v1/redeem", t.token, t.source, map[string]any{"code": madeUp(a.r), "register": t.label})
			})
		}
		{
			a, t := w.newAttack("leaked key", false, fraud.KindUnissuedSerial), w.randomTill()
			w.step(a, w.someDay(start), func(w *world) {
				d, err := w.svc.issuer.SignReward(credential.Program{Merchant: merchant, ID: "coffee", StampsRequired: 10,
					Reward: "free coffee", RewardValidFor: 720 * time.Hour}, w.clock.Now())
				if err != nil {
					return
				}
				a.serial = d.Serial.String()
				if c, err := credential.Parse(d.Code); err == nil {
					a.signKey = c.KeyID
				}
				w.svc.call("POST", "/v1/redeem", t.token, t.source, map[string]any{"code": d.Code, "register": t.label})
			})
		}
		{
			a, code := w.newAttack("compromised key", false, fraud.KindCompromisedKey), w.kiosk.coupons[i%len(w.kiosk.coupons)]
			a.merchant, a.keyID = "kiosk", w.kiosk.till.id
			w.step(a, w.someDay(start), func(w *world) {
				w.svc.call("POST", "/v1/redeem", w.kiosk.till.token, w.kiosk.till.source, map[string]any{"code": code, "register": "kiosk"})
			})
		}
		{
			// A coupon photographed at the till and redeemed again elsewhere.
			a := w.newAttack("replay", false, fraud.KindReplay)
			cp, err := w.svc.must(201, "POST", "/v1/coupons", w.issuer, map[string]any{"merchant": merchant, "offer": "a free tart",
				"valid_for": fmt.Sprintf("%dh", (w.cfg.Days+2)*24), "max_uses": 1, "count": 1})
			if err != nil {
				return err
			}
			code := cp.body["coupons"].([]any)[0].(map[string]any)["code"].(string)
			a.serial = cp.body["coupons"].([]any)[0].(map[string]any)["serial"].(string)
			first, second := w.randomTill(), w.randomTill()
			at := w.someDay(start)
			w.add(action{at: at, do: func(w *world) {
				w.svc.call("POST", "/v1/redeem", first.token, first.source, map[string]any{"code": code, "register": first.label, "idempotency_key": w.nextIdem()})
			}})
			w.step(a, at.Add(time.Duration(5+w.r.IntN(180))*time.Minute), func(w *world) {
				w.svc.call("POST", "/v1/redeem", second.token, second.source, map[string]any{"code": code, "register": second.label, "idempotency_key": w.nextIdem()})
			})
		}
		// Guessing with a stolen key, fast, slow and very slow.
		for _, g := range []struct {
			kind     string
			slow     bool
			count    int
			min, max time.Duration
		}{
			{"fast guessing", false, 300, 700 * time.Millisecond, 1300 * time.Millisecond},
			{"slow guessing", true, 2400, 3300 * time.Millisecond, 6 * time.Second},
			{"very slow guessing", true, 400, 2 * time.Minute, 5 * time.Minute},
		} {
			a := w.newAttack(g.kind, g.slow, fraud.KindGuessing)
			t, err := w.stolenKey(w.r.IntN(len(w.shops)))
			if err != nil {
				return err
			}
			a.keyID = t.id
			at := w.someDay(start)
			for range g.count {
				w.step(a, at, func(w *world) { w.svc.call("POST", "/v1/verify", t.token, t.source, guess(a.r)) })
				at = at.Add(g.min + time.Duration(w.r.Int64N(int64(g.max-g.min))))
			}
		}
		// A card copied and sold: three to five holders, each at their own
		// shop once a day for six days.
		{
			a, c := w.newAttack("copied card", true, fraud.KindClonedCard, fraud.KindDuplicateCard), w.people[w.r.IntN(len(w.people))]
			a.serial = c.serial
			w.watched[c.serial] = w.watched[c.serial][:0]
			day := w.someDay(start).Truncate(24 * time.Hour)
			for range 3 + w.r.IntN(3) {
				home := w.r.IntN(len(w.shops))
				for d := range 6 {
					// Any minute from 7:30 to 18:30 (a float of hours: the
					// conversion must not round it to whole hours).
					at := day.Add(time.Duration(d)*24*time.Hour + time.Duration((7.5+w.r.Float64()*11)*float64(time.Hour)))
					w.step(a, at, func(w *world) {
						t := w.shops[home].tills[a.r.IntN(2)]
						if w.svc.call("POST", "/v1/cards/stamp", t.token, t.source, map[string]any{"card_code": c.card, "stamps": 1, "register": t.label, "idempotency_key": w.nextIdem()}).status == 200 {
							w.noteUse(c.serial, t)
						}
					})
				}
			}
		}
		// A cashier stamping their own card four to eight times a shift for
		// eight days, and one printing punches and claiming them 40 s later.
		{
			a, t := w.newAttack("insider stamps", true, fraud.KindInsider), w.randomTill()
			code, serial, err := w.newCard()
			if err != nil {
				return err
			}
			a.keyID, a.serial = t.id, serial
			day := w.someDay(start).Truncate(24 * time.Hour)
			for d := range 8 {
				n := 4 + w.r.IntN(5)
				for k := range n {
					at := day.Add(time.Duration(d)*24*time.Hour + 7*time.Hour + time.Duration(k)*8*time.Hour/time.Duration(n) + time.Duration(w.r.IntN(600))*time.Second)
					w.step(a, at, func(w *world) {
						w.svc.call("POST", "/v1/cards/stamp", t.token, t.source, map[string]any{"card_code": code, "stamps": 1, "register": t.label, "idempotency_key": w.nextIdem()})
					})
				}
			}
		}
		{
			a, t := w.newAttack("insider punches", true, fraud.KindInsider), w.randomTill()
			code, serial, err := w.newCard()
			if err != nil {
				return err
			}
			a.keyID, a.serial = t.id, serial
			pos := w.shops[t.shop].pos
			day := w.someDay(start).Truncate(24 * time.Hour)
			for d := range 5 {
				n := 3 + w.r.IntN(4)
				for k := range n {
					at := day.Add(time.Duration(d)*24*time.Hour + 7*time.Hour + time.Duration(k)*8*time.Hour/time.Duration(n))
					// The claim is a step of its own 40 s later: waiting by
					// moving the clock on would delay every other actor too.
					var punch string
					w.step(a, at, func(w *world) {
						punch = w.svc.call("POST", "/v1/punches", pos.token, pos.source, map[string]any{"merchant": merchant, "program": "coffee", "stamps": 1, "valid_for": "24h"}).str("code")
					})
					w.step(a, at.Add(40*time.Second), func(w *world) {
						w.svc.call("POST", "/v1/cards/claim", t.token, t.source, map[string]any{"card_code": code, "punch_code": punch, "register": t.label, "idempotency_key": w.nextIdem()})
					})
				}
			}
		}
		// A card stamped every 15 to 20 minutes for six hours.
		{
			a, t := w.newAttack("velocity", true, fraud.KindVelocity), w.randomTill()
			code, serial, err := w.newCard()
			if err != nil {
				return err
			}
			a.serial = serial
			at := w.someDay(start).Truncate(time.Hour)
			for at2 := at; at2.Sub(at) < 6*time.Hour; at2 = at2.Add(time.Duration(15+w.r.IntN(6)) * time.Minute) {
				w.step(a, at2, func(w *world) {
					w.svc.call("POST", "/v1/cards/stamp", t.token, t.source, map[string]any{"card_code": code, "stamps": 1, "register": t.label, "idempotency_key": w.nextIdem()})
				})
			}
		}
	}
	return nil
}

// about reports whether an alert is about what the attack touched: a card
// or code alert by its serial, a key's alert by the key.
func (a *attack) about(al *fraud.Alert) bool {
	if al.Merchant != a.merchant {
		return false
	}
	bySerial := a.serial != "" && (al.Serial == a.serial || slices.Contains(al.Evidence.Serials, a.serial))
	byKey := a.keyID != "" && slices.Contains(al.Evidence.APIKeys, a.keyID)
	switch al.Kind {
	case fraud.KindUnissuedSerial:
		// One incident per signing key: after the first few, a leaked
		// key's serials are past the evidence's limit.
		return bySerial || (a.signKey != 0 && slices.Contains(al.Evidence.KeyIDs, a.signKey))
	case fraud.KindClonedCard, fraud.KindDuplicateCard, fraud.KindVelocity, fraud.KindReplay:
		return bySerial
	case fraud.KindInsider:
		return bySerial || byKey
	default:
		return byKey
	}
}

// check looks for an alert that catches the attack, once it has begun.
func (w *world) check(a *attack) {
	if a.start.IsZero() || !a.detected.IsZero() {
		return
	}
	alerts, err := w.svc.monitor.Alerts(a.merchant, fraud.Filter{Limit: fraud.MaxLimit})
	if err != nil {
		return
	}
	for i := range alerts {
		al := &alerts[i]
		if slices.Contains(a.kinds, al.Kind) && a.about(al) && !al.LastSeen.Before(a.start) {
			a.detected = w.clock.Now()
			return
		}
	}
}
