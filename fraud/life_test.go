package fraud

import (
	"testing"
	"time"
)

// Three shops of one chain: north and south 17 km apart, centre between.
func withShops(t *testing.T, m *Monitor) {
	t.Helper()
	for _, s := range []Shop{
		{Merchant: "bakery", ID: "north", Name: "North", Location: Location{Lat: 52.55, Lon: 13.40}},
		{Merchant: "bakery", ID: "centre", Name: "Centre", Location: Location{Lat: 52.475, Lon: 13.40}},
		{Merchant: "bakery", ID: "south", Name: "South", Location: Location{Lat: 52.40, Lon: 13.40}},
	} {
		if _, err := m.CreateShop(s); err != nil {
			t.Fatal(err)
		}
	}
	for key, shop := range map[string]string{"key-n1": "north", "key-n2": "north", "key-c1": "centre", "key-s1": "south"} {
		if err := m.AssignShop("bakery", key, shop); err != nil {
			t.Fatal(err)
		}
	}
}

// at is a successful operation on card through an API key.
func at(op Op, key, card string) Event {
	return Event{Op: op, Result: ResultOK, Merchant: "bakery", APIKey: key, Register: "till", Serial: card, Kind: "card", Stamps: 1}
}

func stampAt(key, card string) Event { return at(OpStamp, key, card) }

func withRewards(ev Event, n int) Event { ev.Rewards = n; return ev }

// days repeats a day's steps n times, the first of each day after gap.
func days(n int, gap time.Duration, day func(d int) []step) []step {
	var out []step
	for d := range n {
		s := day(d)
		s[0].after += gap
		out = append(out, s...)
	}
	return out
}

func TestCardLifeAndShift(t *testing.T) {
	card := serial(1)
	for name, tc := range map[string]struct {
		steps        []step
		wantKinds    []string
		wantSeverity string
	}{
		// places
		"one card at two shops 17 km apart within ten minutes is cloned": {
			steps:     []step{{0, stampAt("key-n1", card)}, {10 * time.Minute, stampAt("key-s1", card)}},
			wantKinds: []string{KindClonedCard}, wantSeverity: SeverityHigh},
		"a family sharing a card at two shops hours apart raises nothing": {
			steps: []step{{0, stampAt("key-n1", card)}, {4 * time.Hour, stampAt("key-s1", card)}}},
		"one card at two tills of one shop within a minute is a duplicate": {
			steps:     []step{{0, stampAt("key-n1", card)}, {time.Minute, stampAt("key-n2", card)}},
			wantKinds: []string{KindDuplicateCard}},
		"a customer at two tills of one shop half an hour apart raises nothing": {
			steps: []step{{0, stampAt("key-n1", card)}, {30 * time.Minute, stampAt("key-n2", card)}}},
		"a double scan at one till raises nothing": {
			steps: []step{{0, stampAt("key-n1", card)}, {12 * time.Second, at(OpVerify, "key-n1", card)}}},

		// a card's life
		"a family at three shops in four visits of a day raises nothing": {
			// Each of two twice a day, one of them once at another shop:
			// the simulator's honest month has such a day. Three shops on
			// a second day of the week is cloned (insider_test.go).
			steps: []step{{0, stampAt("key-n1", card)}, {2 * time.Hour, stampAt("key-c1", card)}, {2 * time.Hour, stampAt("key-s1", card)}, {2 * time.Hour, stampAt("key-n2", card)}}},
		"a family at three shops in three visits of a day raises nothing": {
			steps: []step{{0, stampAt("key-n1", card)}, {3 * time.Hour, stampAt("key-c1", card)}, {3 * time.Hour, stampAt("key-s1", card)}}},
		"five visits in a day at two shops is a copied card": {
			steps: []step{{0, stampAt("key-n1", card)}, {2 * time.Hour, stampAt("key-s1", card)}, {2 * time.Hour, stampAt("key-n2", card)},
				{2 * time.Hour, stampAt("key-s1", card)}, {2 * time.Hour, stampAt("key-n1", card)}},
			wantKinds: []string{KindClonedCard}},
		"a family's four visits in a day at two shops raise nothing": {
			steps: []step{{0, stampAt("key-n1", card)}, {2 * time.Hour, stampAt("key-n2", card)}, {4 * time.Hour, stampAt("key-s1", card)}, {2 * time.Hour, stampAt("key-s1", card)}}},
		"a regular every morning for a month raises nothing": {
			steps: repeat(30, 24*time.Hour, func(int) Event { return stampAt("key-n1", card) })},
		"a heavy regular three times a day for a week, twice at another shop, raises nothing": {
			steps: days(7, 16*time.Hour, func(d int) []step {
				third := "key-n2"
				if d == 2 || d == 5 {
					third = "key-c1"
				}
				return []step{{0, stampAt("key-n1", card)}, {4 * time.Hour, stampAt("key-n1", card)}, {4 * time.Hour, stampAt(third, card)}}
			})},
		"six visits in a day through different tills is a copied card": {
			steps:     repeat(6, 2*time.Hour, func(i int) Event { return stampAt([]string{"key-n1", "key-n2", "key-c1"}[i%3], card) }),
			wantKinds: []string{KindClonedCard}},
		"four rewards in a week is faster than any customer": {
			steps:     repeat(4, 36*time.Hour, func(int) Event { return withRewards(stampAt("key-n1", card), 1) }),
			wantKinds: []string{KindClonedCard}},
		"three rewards in a week raise nothing": {
			steps: repeat(3, 48*time.Hour, func(int) Event { return withRewards(stampAt("key-n1", card), 1) })},
		"a copy at another shop forty minutes after the card, on a day of three visits, is cloned": {
			// 17 km at 40 km/h is possible in 40 minutes; a family handing a
			// paper card over is not that quick, and a third visit follows.
			steps:     []step{{0, stampAt("key-n1", card)}, {40 * time.Minute, stampAt("key-s1", card)}, {4 * time.Hour, stampAt("key-c1", card)}},
			wantKinds: []string{KindClonedCard}},
		"copies at two tills of one shop half an hour apart, on a day of three visits, are cloned": {
			steps:     []step{{0, stampAt("key-n1", card)}, {30 * time.Minute, stampAt("key-n2", card)}, {5 * time.Hour, stampAt("key-n1", card)}},
			wantKinds: []string{KindClonedCard}},
		"a double scan and a later visit, three stamps in a day, raise nothing": {
			steps: []step{{0, stampAt("key-n1", card)}, {time.Minute, stampAt("key-n1", card)}, {3 * time.Hour, stampAt("key-n1", card)}}},
		"a family handing the card over at two shops an hour apart, three visits that day, raises nothing": {
			steps: []step{{0, stampAt("key-n1", card)}, {time.Hour, stampAt("key-s1", card)}, {3 * time.Hour, stampAt("key-s1", card)}}},
		"one person at two shops forty minutes apart, and nothing more that day, raises nothing": {
			steps: []step{{0, stampAt("key-n1", card)}, {40 * time.Minute, stampAt("key-s1", card)}, {20 * time.Hour, stampAt("key-n1", card)}}},
		"a family at two shops every day of a week raises nothing": {
			steps: days(7, 16*time.Hour, func(int) []step {
				return []step{{0, stampAt("key-n1", card)}, {8 * time.Hour, stampAt("key-s1", card)}}
			})},

		// velocity
		"thirteen stamps within two hours raise velocity as they cross the line": {
			steps:     repeat(3, 30*time.Minute, func(int) Event { e := stampAt("key-n1", card); e.Stamps = 5; return e }),
			wantKinds: []string{KindVelocity}},
		"a family's four coffees on one stamp raise nothing": {
			steps: []step{{0, func() Event { e := stampAt("key-n1", card); e.Stamps = 4; return e }()}}},

		// a till's shift
		"one till giving one card five visits in a shift is insider": {
			steps:     repeat(5, 90*time.Minute, func(int) Event { return stampAt("key-n1", card) }),
			wantKinds: []string{KindInsider}},
		"a family's three visits a day through one till raise nothing": {
			steps: days(5, 16*time.Hour, func(int) []step {
				return []step{{0, stampAt("key-n1", card)}, {3 * time.Hour, stampAt("key-n1", card)}, {4 * time.Hour, stampAt("key-n1", card)}}
			})},
		"one till giving one card four visits a shift on two days is insider": {
			steps: days(2, 16*time.Hour, func(int) []step {
				return repeat(4, 2*time.Hour, func(int) Event { return stampAt("key-n1", card) })
			}),
			wantKinds: []string{KindInsider}},
		"a busy till stamping many cards raises nothing": {
			steps: repeat(300, time.Minute, func(i int) Event { return stampAt("key-n1", serial(100+i%150)) })},
		"a staff card collecting a stamp is insider": {
			steps: []step{{0, stampAt("key-n1", serial(77))}}, wantKinds: []string{KindInsider}},
		"punches claimed forty seconds after printing at the same shop are insider": {
			steps: days(3, time.Hour, func(d int) []step {
				p := serial(200 + d)
				return []step{{0, Event{Op: OpIssue, Result: ResultOK, Merchant: "bakery", APIKey: "key-pos-n", Serial: p, Kind: "punch"}},
					{40 * time.Second, Event{Op: OpClaim, Result: ResultOK, Merchant: "bakery", APIKey: "key-n1", Serial: p, Card: card, Kind: "punch", Stamps: 1}}}
			}),
			wantKinds: []string{KindInsider}},
	} {
		t.Run(name, func(t *testing.T) {
			m, clk, _ := newMonitor(t)
			withShops(t, m)
			if err := m.AssignShop("bakery", "key-pos-n", "north"); err != nil {
				t.Fatal(err)
			}
			if _, err := m.MarkStaff("bakery", serial(77), "Anna", "test"); err != nil {
				t.Fatal(err)
			}
			playAndCheck(t, m, clk, tc.steps, tc.wantKinds, tc.wantSeverity)
		})
	}
}

func TestReplayOfAnOldCouponIsNotedOnce(t *testing.T) {
	m, clk, _ := newMonitor(t)
	coupon := serial(5)
	old := Event{Op: OpRedeem, Result: ReasonAlreadyRedeemed, Merchant: "bakery", APIKey: "key-1", Register: "till-1",
		Serial: coupon, FirstUse: "till-1", FirstUseAt: clk.Now().Add(-21 * 24 * time.Hour)}
	m.Observe(old)
	if as := openAlerts(t, m, "bakery"); len(as) != 0 {
		t.Fatalf("open alerts after one old coupon = %d, want none", len(as))
	}
	noted, _ := m.Alerts("bakery", Filter{Status: StatusNoted})
	if len(noted) != 1 || noted[0].Severity != SeverityLow || noted[0].Kind != KindReplay {
		t.Fatalf("noted = %+v, want one low replay", noted)
	}
	clk.Advance(time.Hour)
	m.Observe(old)
	if as := openAlerts(t, m, "bakery"); len(as) != 1 || as[0].Kind != KindReplay {
		t.Fatalf("open alerts after the same coupon twice = %+v, want a replay", as)
	}
}

func TestDoubleScanIsRecognisedByKeyAndSeconds(t *testing.T) {
	m, clk, _ := newMonitor(t)
	coupon := serial(6)
	m.Observe(Event{Op: OpRedeem, Result: ResultOK, Merchant: "bakery", APIKey: "key-1", Register: "till-1", Serial: coupon, Kind: "coupon"})
	clk.Advance(15 * time.Second)
	again := Event{Op: OpRedeem, Result: ReasonAlreadyRedeemed, Merchant: "bakery", APIKey: "key-1", Register: "till-1", Serial: coupon, FirstUse: "till-1"}
	m.Observe(again)
	if as := openAlerts(t, m, "bakery"); len(as) != 0 {
		t.Fatalf("a double scan 15 s apart raised %d alerts", len(as))
	}
	// Another key, naming itself till-1, cannot pass as the double scan.
	again.APIKey = "key-2"
	m.Observe(again)
	if as := openAlerts(t, m, "bakery"); len(as) != 1 {
		t.Fatalf("another key's presentation raised %d alerts, want a replay", len(as))
	}
}
