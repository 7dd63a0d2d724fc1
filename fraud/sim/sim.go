// Package sim is the detection benchmark: a simulated month of a small
// bakery chain (three shops), honest customers with published visit
// patterns and injected attacks of every kind with their ground truth,
// driven through the real service (HTTP handler, verifier, issuer, fraud
// monitor, bbolt ledger) on a simulated clock. It reports recall per
// attack kind, time to detect, false alerts and honest refusals per 10,000
// honest requests, and alerts a month for the security desk.
//
// Run it with `go run ./cmd/stampseal simulate`; docs/detection.md holds
// the month's figures and says where the honest model is a judgement.
package sim

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"time"
)

// Config sizes a simulation.
type Config struct {
	Days      int    // simulated days
	Customers int    // cards in circulation
	Attacks   int    // attacks of each kind
	Seed      uint64 // the same seed gives the same month
	Dir       string // where the ledger goes; empty: a temporary directory
}

// DefaultConfig is the month of docs/detection.md.
func DefaultConfig() Config { return Config{Days: 30, Customers: 2000, Attacks: 20, Seed: 1} }

// action is one thing that happens at a time: an honest visit or one step
// of an attack.
type action struct {
	at     time.Time
	seq    int
	attack *attack // nil for honest traffic
	do     func(w *world)
}

// world is the simulation's state.
type world struct {
	cfg    Config
	r      *rand.Rand
	svc    *service
	clock  *Clock
	shops  []*shop
	admin  string // the bakery's admin key
	issuer string
	kiosk  struct {
		till    *till
		coupons []string
		issuer  string
	}
	people  []*customer
	actions []action
	attacks []*attack

	honest, honestRefused int
	idem                  int
	refusals              map[string]int
	// The stamps on copied cards, the owner's and the copies': what a
	// careful human reads to tell a copy from a family (truth.go).
	watched map[string][]cardUse
	until   time.Time // the next action's time
}

// Run simulates and reports.
func Run(cfg Config) (*Report, error) {
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "stampseal-sim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	clock := &Clock{t: start.Add(-24 * time.Hour)}
	svc, err := openService(cfg.Dir, clock)
	if err != nil {
		return nil, err
	}
	defer svc.close()
	w := &world{cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, 0x5eed)), svc: svc, clock: clock, refusals: map[string]int{}, watched: map[string][]cardUse{}}
	if err := w.setup(); err != nil {
		return nil, fmt.Errorf("set up the chain: %w", err)
	}
	w.plan(start)
	if err := w.planAttacks(start); err != nil {
		return nil, fmt.Errorf("plan attacks: %w", err)
	}
	sort.SliceStable(w.actions, func(i, j int) bool { return w.actions[i].at.Before(w.actions[j].at) })
	began := time.Now()
	for i, a := range w.actions {
		clock.Set(a.at)
		w.until = start.Add(time.Duration(cfg.Days+1) * 24 * time.Hour)
		if i+1 < len(w.actions) {
			w.until = w.actions[i+1].at
		}
		a.do(w)
		if a.attack != nil {
			w.check(a.attack)
		}
	}
	clock.Set(start.Add(time.Duration(cfg.Days) * 24 * time.Hour))
	for _, at := range w.attacks {
		w.check(at)
	}
	return w.report(start, time.Since(began))
}

// setup creates the merchant, its shops, tills, program and cards, through
// the API as an admin would.
func (w *world) setup() error {
	s := w.svc
	if _, err := s.must(201, "POST", "/v1/merchants", adminToken, map[string]any{"id": merchant, "name": "Corner Bakery"}); err != nil {
		return err
	}
	key := func(role, name, shopID string) (*till, error) {
		body := map[string]any{"merchant": merchant, "role": role, "name": name}
		if shopID != "" {
			body["shop"] = shopID
		}
		a, err := s.must(201, "POST", "/v1/apikeys", adminToken, body)
		if err != nil {
			return nil, err
		}
		return &till{id: a.str("id"), token: a.str("token")}, nil
	}
	adm, err := key("admin", "owner", "")
	if err != nil {
		return err
	}
	w.admin = adm.token
	for i, loc := range [][2]float64{{52.530, 13.385}, {52.497, 13.420}, {52.468, 13.330}} { // 3 to 6 km apart
		sh := &shop{id: fmt.Sprintf("shop-%d", i+1), lat: loc[0], lon: loc[1]}
		if _, err := s.must(201, "POST", "/v1/shops", w.admin, map[string]any{"merchant": merchant, "id": sh.id, "name": "Shop " + sh.id,
			"location": map[string]any{"lat": sh.lat, "lon": sh.lon}}); err != nil {
			return err
		}
		for t := range 2 {
			tl, err := key("register", label(i, t), sh.id)
			if err != nil {
				return err
			}
			tl.shop, tl.label, tl.source = i, label(i, t), fmt.Sprintf("10.0.%d.1", i+1)
			sh.tills = append(sh.tills, tl)
		}
		if sh.pos, err = key("issuer", sh.id+" pos", sh.id); err != nil {
			return err
		}
		sh.pos.shop, sh.pos.source = i, fmt.Sprintf("10.0.%d.1", i+1)
		w.shops = append(w.shops, sh)
	}
	iss, err := key("issuer", "head office", "")
	if err != nil {
		return err
	}
	w.issuer = iss.token
	if _, err := s.must(201, "POST", "/v1/programs", w.issuer, map[string]any{"merchant": merchant, "id": "coffee",
		"stamps_required": 10, "reward": "free coffee", "reward_valid_for": "720h"}); err != nil {
		return err
	}
	for range w.cfg.Customers {
		a, err := s.must(201, "POST", "/v1/cards", w.issuer, map[string]any{"merchant": merchant, "program": "coffee"})
		if err != nil {
			return err
		}
		c := &customer{card: a.str("code"), serial: a.str("serial")}
		first := member{home: w.r.IntN(len(w.shops)), perWeek: visitsPerWeek(w.r), preferred: preferredHour(w.r)}
		c.members = append(c.members, first)
		if w.r.Float64() < 0.05 {
			// A family sharing one paper card: it is in one pocket at a
			// time, so the second member uses it at another part of the day
			// (morning and afternoon), at most daily, perhaps at another shop.
			second := member{home: w.r.IntN(len(w.shops)), perWeek: min(7, visitsPerWeek(w.r)), preferred: 16 + w.r.NormFloat64()*0.5}
			if first.preferred > 12 {
				c.members[0].preferred, second.preferred = 7.5+w.r.NormFloat64()*0.5, first.preferred
			}
			c.members = append(c.members, second)
		}
		w.people = append(w.people, c)
	}
	// A campaign: a fifth of customers get a coupon, valid for the month.
	n := w.cfg.Customers / 5
	a, err := s.must(201, "POST", "/v1/coupons", w.issuer, map[string]any{"merchant": merchant, "offer": "2 croissants for 1",
		"valid_for": fmt.Sprintf("%dh", (w.cfg.Days+2)*24), "max_uses": 1, "count": n})
	if err != nil {
		return err
	}
	for i, c := range a.body["coupons"].([]any) {
		w.people[i*5%len(w.people)].promo = c.(map[string]any)["code"].(string)
	}
	return w.setupKiosk()
}

// plan puts every honest visit of the month on the timeline.
func (w *world) plan(start time.Time) {
	for _, c := range w.people {
		var taken []time.Time
		for _, m := range c.members {
			for _, t := range visitTimes(w.r, m, start, w.cfg.Days) {
				// A shared paper card is in one pocket: the other member
				// has it back an hour or more after their visit.
				if slices.ContainsFunc(taken, func(x time.Time) bool { return x.Sub(t).Abs() < time.Hour }) {
					continue
				}
				taken = append(taken, t)
				c, m := c, m
				w.add(action{at: t, do: func(w *world) { w.visit(c, m) }})
			}
		}
	}
}

func (w *world) add(a action) {
	a.seq = len(w.actions)
	w.actions = append(w.actions, a)
}

// honestCall is a request of an honest customer or cashier; expected lists
// the refusals that are the right answer (a double scan's 409).
func (w *world) honestCall(path string, t *till, body map[string]any, expected ...int) answer {
	a := w.svc.call("POST", path, t.token, t.source, body)
	w.honest++
	if a.status >= 300 && !slices.Contains(expected, a.status) {
		w.honestRefused++
		code := fmt.Sprint(a.status)
		if e, ok := a.body["error"].(map[string]any); ok {
			code += " " + fmt.Sprint(e["code"])
		}
		w.refusals[code]++
	}
	return a
}

// nextIdem is a fresh idempotency key, as a till makes one per sale.
func (w *world) nextIdem() string { w.idem++; return fmt.Sprintf("sale-%d", w.idem) }

// visit is one honest visit: perhaps a mis-scan, a reward or campaign
// coupon redeemed, a punch claimed, the card stamped, a punch printed.
func (w *world) visit(c *customer, m member) {
	sh := w.shops[shopFor(w.r, m, len(w.shops))]
	t := sh.tills[w.r.IntN(len(sh.tills))]
	r := w.r
	// The seconds within a visit pass only up to the next action's time:
	// a busy shop's visits must not push another actor's requests later
	// (a guesser's minute would stretch). The clock is one for all.
	after := func(d time.Duration) {
		t := w.clock.Now().Add(d)
		if t.After(w.until) {
			t = w.until
		}
		w.clock.Set(t)
	}
	if r.Float64() < 0.005 { // the cashier scans the product's barcode first
		w.honestCall("/v1/verify", t, map[string]any{"code": fmt.Sprintf("40063813%05d", r.IntN(100000))}, 422, 200)
		after(5 * time.Second)
	}
	if !c.shownOld && len(c.used) > 0 && r.Float64() < 0.02 && w.clock.Now().Sub(c.used[0].at) > 48*time.Hour {
		// An old, used coupon found in a wallet: refused, once.
		c.shownOld = true
		w.honestCall("/v1/redeem", t, map[string]any{"code": c.used[0].code, "register": t.label, "idempotency_key": w.nextIdem()}, 409)
		after(10 * time.Second)
	}
	redeem := func(code string) {
		key := w.nextIdem()
		body := map[string]any{"code": code, "register": t.label, "idempotency_key": key}
		if w.honestCall("/v1/redeem", t, body).status == 200 {
			c.used = append(c.used, usedCoupon{code, w.clock.Now()})
		}
		switch p := r.Float64(); {
		case p < 0.02: // the till timed out and resends
			after(3 * time.Second)
			w.honestCall("/v1/redeem", t, body)
		case p < 0.04: // the cashier scans it twice
			after(time.Duration(8+r.IntN(8)) * time.Second)
			w.honestCall("/v1/redeem", t, map[string]any{"code": code, "register": t.label, "idempotency_key": w.nextIdem()}, 409)
		}
		after(20 * time.Second)
	}
	if len(c.rewards) > 0 && r.Float64() < 0.7 {
		redeem(c.rewards[0])
		c.rewards = c.rewards[1:]
	}
	if c.promo != "" && r.Float64() < 0.3 {
		redeem(c.promo)
		c.promo = ""
	}
	card := c.card
	if r.Float64() < 0.1 {
		card += "\r\n" // a keyboard-wedge scanner's line end
	}
	if c.punch != "" {
		body := map[string]any{"card_code": card, "punch_code": c.punch, "register": t.label, "idempotency_key": w.nextIdem()}
		w.honestCall("/v1/cards/claim", t, body)
		if r.Float64() < 0.02 {
			after(3 * time.Second)
			w.honestCall("/v1/cards/claim", t, body)
		}
		c.punch = ""
		after(15 * time.Second)
	}
	stamps := 1
	switch p := r.Float64(); {
	case p < 0.05:
		stamps = 3
	case p < 0.15:
		stamps = 2
	}
	body := map[string]any{"card_code": card, "stamps": stamps, "register": t.label, "idempotency_key": w.nextIdem()}
	a := w.honestCall("/v1/cards/stamp", t, body)
	if a.status == 200 {
		w.noteUse(c.serial, t)
	}
	if r.Float64() < 0.02 {
		after(3 * time.Second)
		w.honestCall("/v1/cards/stamp", t, body)
	}
	if rw, ok := a.body["rewards"].([]any); ok {
		for _, x := range rw {
			if code, _ := x.(map[string]any)["code"].(string); code != "" {
				c.rewards = append(c.rewards, code)
			}
		}
	}
	if r.Float64() < 0.1 { // a punch on the receipt, claimed now or on the next visit
		after(20 * time.Second)
		p := w.svc.call("POST", "/v1/punches", sh.pos.token, sh.pos.source, map[string]any{"merchant": merchant, "program": "coffee", "stamps": 1, "valid_for": "720h"})
		w.honest++
		if p.status == 201 {
			c.punch = p.str("code")
			if r.Float64() < 0.3 {
				after(40 * time.Second)
				w.honestCall("/v1/cards/claim", t, map[string]any{"card_code": c.card, "punch_code": c.punch, "register": t.label, "idempotency_key": w.nextIdem()})
				c.punch = ""
			}
		}
	}
}
