package fraud

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// observeKinds runs steps through a monitor with the three shops of
// withShops (north has two tills, centre and south one each) and returns
// the kinds of the open alerts, sorted.
func observeKinds(t *testing.T, steps []step) (kinds, rules []string) {
	t.Helper()
	m, clk, _ := newMonitor(t)
	withShops(t, m)
	for _, s := range steps {
		clk.Advance(s.after)
		m.Observe(s.ev)
	}
	for _, a := range openAlerts(t, m, "bakery") {
		kinds = append(kinds, a.Kind)
		rules = append(rules, a.Evidence.Rules...)
	}
	slices.Sort(kinds)
	return kinds, rules
}

// customers are other cards a till serves within the hour after a step:
// n visits a minute apart, each card new.
func customers(key string, from, n int) []step {
	return repeat(n, time.Minute, func(i int) Event { return stampAt(key, serial(1000+from+i)) })
}

func TestTillOverDaysAndRewardBursts(t *testing.T) {
	card := serial(1)
	// A working day at north: the card's visits at the given keys and
	// hours apart, each followed by customers at both tills.
	northDay := func(d int, keys ...string) []step {
		var out []step
		for i, k := range keys {
			gap := 4 * time.Hour
			if i == 0 {
				gap = 0
			}
			out = append(out, step{gap, stampAt(k, card)})
			out = append(out, customers("key-n1", d*100+i*20, 5)...)
			out = append(out, customers("key-n2", d*100+i*20+5, 10)...)
		}
		return out
	}
	for name, tc := range map[string]struct {
		steps     []step
		wantKinds []string
		wantRule  string // the start of a rule the alert names, when set
	}{
		"a cashier's till giving their card two visits a day for six days, while the other till serves the customers, is insider": {
			steps:     days(6, 19*time.Hour+30*time.Minute, func(d int) []step { return northDay(d, "key-n1", "key-n1") }),
			wantKinds: []string{KindInsider}, wantRule: "one API key gave one card 12 visits or more on 4 days"},
		"a regular twice a day for a week at either till of the shop raises nothing": {
			steps: days(7, 19*time.Hour+30*time.Minute, func(d int) []step {
				return northDay(d, []string{"key-n1", "key-n2"}[d%2], []string{"key-n2", "key-n1"}[d/3%2])
			})},
		"the cashier's pattern for three days raises nothing": {
			steps: days(3, 19*time.Hour+30*time.Minute, func(d int) []step { return northDay(d, "key-n1", "key-n1") })},
		"a regular twice a day for a week at a shop of one till raises nothing": {
			steps: days(7, 19*time.Hour+40*time.Minute, func(d int) []step {
				return slices.Concat([]step{{0, stampAt("key-c1", card)}}, customers("key-c1", d*100, 10),
					[]step{{4 * time.Hour, stampAt("key-c1", card)}}, customers("key-c1", d*100+10, 10))
			})},

		"one till paying out two rewards onto one card within a shift is insider": {
			steps:     []step{{0, withRewards(stampAt("key-n1", card), 1)}, {3 * time.Hour, withRewards(stampAt("key-n1", card), 1)}},
			wantKinds: []string{KindInsider}, wantRule: "one API key paid out 2 rewards"},
		"two rewards a day apart at one till raise nothing": {
			steps: []step{{0, withRewards(stampAt("key-n1", card), 1)}, {24 * time.Hour, withRewards(stampAt("key-n1", card), 1)}}},
		"two rewards within a shift at two shops (a family) raise nothing": {
			steps: []step{{0, withRewards(stampAt("key-n1", card), 1)}, {4 * time.Hour, withRewards(stampAt("key-s1", card), 1)}}},

		"a card at three shops on two days is cloned": {
			steps: days(2, 18*time.Hour, func(int) []step {
				return []step{{0, stampAt("key-n1", card)}, {3 * time.Hour, stampAt("key-c1", card)}, {3 * time.Hour, stampAt("key-s1", card)}}
			}),
			wantKinds: []string{KindClonedCard}, wantRule: "one card was used at more than 2 shops on 2 days"},
		"a family at three shops on one day of a week, two shops the other days, raises nothing": {
			steps: slices.Concat(
				[]step{{0, stampAt("key-n1", card)}, {3 * time.Hour, stampAt("key-c1", card)}, {3 * time.Hour, stampAt("key-s1", card)}},
				days(6, 18*time.Hour, func(int) []step {
					return []step{{0, stampAt("key-n1", card)}, {6 * time.Hour, stampAt("key-s1", card)}}
				}))},
		"four visits at two shops on two days (a family of two, each twice a day) raise nothing": {
			steps: days(2, 15*time.Hour, func(int) []step {
				return []step{{0, stampAt("key-n1", card)}, {3 * time.Hour, stampAt("key-s1", card)}, {3 * time.Hour, stampAt("key-n2", card)}, {3 * time.Hour, stampAt("key-s1", card)}}
			})},
		"a heavy family's three visits at two shops every day of a week raise nothing": {
			steps: days(7, 16*time.Hour, func(int) []step {
				return []step{{0, stampAt("key-n1", card)}, {4 * time.Hour, stampAt("key-s1", card)}, {4 * time.Hour, stampAt("key-n2", card)}}
			})},
	} {
		t.Run(name, func(t *testing.T) {
			kinds, rules := observeKinds(t, tc.steps)
			if !slices.Equal(kinds, tc.wantKinds) {
				t.Fatalf("alert kinds = %v, want %v", kinds, tc.wantKinds)
			}
			if tc.wantRule != "" && !slices.ContainsFunc(rules, func(r string) bool { return strings.HasPrefix(r, tc.wantRule) }) {
				t.Errorf("rules = %q, want one starting %q", rules, tc.wantRule)
			}
		})
	}
}

func TestDayCounts(t *testing.T) {
	var d dayCounts
	day := int64(24 * time.Hour)
	start := 20000 * day
	for i := range 10 { // one visit on each of ten days, three on the last
		d.add(start + int64(i)*day)
	}
	d.add(start + 9*day + 1)
	d.add(start + 9*day + 2)
	now := start + 9*day + 3
	if got := d.sum(now, 7); got != 9 {
		t.Errorf("visits of the last 7 days = %d, want 9", got)
	}
	if got := d.sum(now, 1); got != 3 {
		t.Errorf("visits today = %d, want 3", got)
	}
	if got := d.sum(now+30*day, 7); got != 0 {
		t.Errorf("visits a month later = %d, want 0", got)
	}
}
