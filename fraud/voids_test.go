package fraud

import (
	"slices"
	"testing"
	"time"
)

func insiderAlerts(t *testing.T, m *Monitor) []Alert {
	t.Helper()
	var out []Alert
	for _, a := range openAlerts(t, m, "bakery") {
		if a.Kind == KindInsider {
			out = append(out, a)
		}
	}
	return out
}

func TestATillVoidingFarMoreThanItsShareIsAnInsider(t *testing.T) {
	m, clk, _ := newMonitor(t)
	sale := func(key string, i int) {
		m.Observe(Event{Op: OpRedeem, Result: ResultOK, Merchant: "bakery", Kind: "coupon", Serial: serial(i), APIKey: key, Register: key})
		clk.Advance(time.Second)
	}
	void := func(key string, i int) {
		m.Observe(Event{Op: OpVoid, Result: ResultOK, Merchant: "bakery", Kind: "coupon", Serial: serial(i), APIKey: key, Register: key})
		clk.Advance(time.Second)
	}
	// Two honest tills: 100 sales each, one void each.
	for i := range 100 {
		sale("key-1", i)
		sale("key-2", 1000+i)
	}
	void("key-1", 1)
	void("key-2", 1001)
	// A third till: 20 sales, 4 voids is still below the minimum ...
	for i := range 20 {
		sale("key-3", 2000+i)
	}
	for i := range 4 {
		void("key-3", 2000+i)
	}
	if as := insiderAlerts(t, m); len(as) != 0 {
		t.Fatalf("insider alerts after 4 voids = %+v; want none", as)
	}
	// ... the fifth makes 25% of its sales against 1% at the others.
	void("key-3", 2004)
	as := insiderAlerts(t, m)
	if len(as) != 1 || !slices.Contains(as[0].Evidence.APIKeys, "key-3") || !slices.Contains(as[0].Evidence.Rules, ruleVoidShare) {
		t.Fatalf("insider alerts = %+v; want one against key-3 for its void share", as)
	}
	// A till as careful as the others voids five times over a busy day
	// without an alert.
	for i := range 500 {
		sale("key-1", 3000+i)
	}
	for i := range 4 {
		void("key-1", 3000+i)
	}
	if as := insiderAlerts(t, m); len(as) != 1 {
		t.Errorf("insider alerts = %d; want still one", len(as))
	}
}

func TestVoidThenRedeemTheSameCodeIsAnInsider(t *testing.T) {
	m, clk, _ := newMonitor(t)
	ev := Event{Op: OpRedeem, Result: ResultOK, Merchant: "bakery", Kind: "coupon", Serial: serial(7), APIKey: "key-1", Register: "till-1"}
	m.Observe(ev)
	clk.Advance(time.Minute)
	void := ev
	void.Op = OpVoid
	m.Observe(void)
	// A retried void is not a second void.
	void.Retry = true
	m.Observe(void)
	if as := insiderAlerts(t, m); len(as) != 0 {
		t.Fatalf("insider alerts after one void = %+v; want none", as)
	}
	clk.Advance(time.Minute)
	again := ev
	again.APIKey, again.Register = "key-2", "till-2"
	m.Observe(again)
	as := insiderAlerts(t, m)
	if len(as) != 1 || !slices.Contains(as[0].Evidence.Rules, ruleVoidRedeem) || as[0].Serial != serial(7) || !slices.Contains(as[0].Evidence.APIKeys, "key-2") {
		t.Fatalf("insider alerts = %+v; want one for void-and-redeem of the serial", as)
	}
}
