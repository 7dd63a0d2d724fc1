package fraud

import (
	"testing"
	"time"
)

func TestAUseOnAnotherNodeReachesTheDetectors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seenHere  bool // the earlier use went through this monitor too
		wantAlert bool
	}{
		{"a card's use through another node within the window is a duplicate", false, true},
		{"a use this node saw itself is not counted twice", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, clk, _ := newMonitor(t)
			first := Event{Time: clk.Now(), Op: OpStamp, Result: ResultOK, Merchant: "bakery-1", Kind: "card",
				Serial: "card-1", APIKey: "till-a", Register: "a", Stamps: 1}
			if tc.seenHere {
				m.Observe(first)
			}
			clk.Advance(time.Minute)
			second := Event{Time: clk.Now(), Op: OpStamp, Result: ResultOK, Merchant: "bakery-1", Kind: "card",
				Serial: "card-1", APIKey: "till-b", Register: "b", Stamps: 1,
				Before: Use{At: first.Time, APIKey: "till-a", Register: "a", Op: OpStamp}}
			m.Observe(second)
			m.Flush()
			alerts, err := m.Alerts("bakery-1", Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(alerts) == 1 && alerts[0].Kind == KindDuplicateCard; got != tc.wantAlert {
				t.Fatalf("alerts %+v, want one duplicate_card: %v", alerts, tc.wantAlert)
			}
			sh := m.shard("card-1")
			sh.mu.Lock()
			n := len(sh.cards[subjectKey{"bakery-1", "card-1", scopeSerial}].uses)
			sh.mu.Unlock()
			if n != 2 {
				t.Errorf("the card's history holds %d uses, want 2", n)
			}
		})
	}
}

func TestALearnedUseKeepsTheHistoryBoundedAndInOrder(t *testing.T) {
	m, clk, _ := newMonitor(t)
	st := &cardState{}
	base := clk.Now().Add(-time.Hour).UnixNano()
	for i := range maxHistory {
		st.uses = append(st.uses, use{at: base + int64(i)*int64(time.Second), apiKey: "till-a"})
	}
	ev := &Event{Merchant: "bakery-1", Before: Use{At: time.Unix(0, base+int64(maxHistory/2)*int64(time.Second)+1), APIKey: "till-b"}}
	m.learnUse(ev, st, clk.Now().UnixNano())
	if len(st.uses) != maxHistory {
		t.Fatalf("%d uses kept, want %d", len(st.uses), maxHistory)
	}
	found := false
	for i := range st.uses {
		if i > 0 && st.uses[i].at < st.uses[i-1].at {
			t.Fatalf("uses out of order at %d", i)
		}
		found = found || st.uses[i].apiKey == "till-b"
	}
	if !found || st.uses[0].at != base+int64(time.Second) {
		t.Errorf("learned use kept %v, oldest %d; want it kept and the oldest dropped", found, st.uses[0].at-base)
	}
}
