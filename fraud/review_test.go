package fraud

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func forged(merchant, register string) Event {
	return Event{Op: OpVerify, Result: "invalid_signature", Merchant: merchant, Register: register, Serial: serial(9)}
}

func TestResolveThenNewIncidentOpensNewAlert(t *testing.T) {
	rec := &recorder{}
	m, clk, _ := newMonitor(t, WithMetrics(rec))
	m.Observe(forged("bakery", "till-1"))
	first := openAlerts(t, m, "bakery")
	if len(first) != 1 {
		t.Fatalf("alerts after one forged code = %d, want 1", len(first))
	}
	if n, _ := m.OpenCount("bakery"); n != 1 {
		t.Errorf("OpenCount = %d, want 1", n)
	}

	clk.Advance(time.Minute)
	got, err := m.Resolve("bakery", first[0].ID, "scanner replaced", "auditor-1")
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got.Status != StatusResolved || got.Resolution == nil || got.Resolution.Note != "scanner replaced" ||
		got.Resolution.By != "auditor-1" || !got.Resolution.At.Equal(clk.Now()) {
		t.Errorf("resolved alert = %+v / %+v, want status resolved with note, by and time", got, got.Resolution)
	}
	if n, _ := m.OpenCount("bakery"); n != 0 || rec.open != 0 {
		t.Errorf("OpenCount after resolve = %d (metrics %d), want 0", n, rec.open)
	}
	if again, err := m.Resolve("bakery", first[0].ID, "twice", "auditor-2"); err != nil || again.Resolution.Note != "scanner replaced" {
		t.Errorf("second Resolve = %+v, %v; want the first resolution kept", again.Resolution, err)
	}

	clk.Advance(time.Minute)
	m.Observe(forged("bakery", "till-1"))
	open := openAlerts(t, m, "bakery")
	if len(open) != 1 || open[0].ID == first[0].ID || open[0].Count != 1 {
		t.Fatalf("open alerts after a new forged code = %+v, want one new alert with count 1", open)
	}
	all, err := m.Alerts("bakery", Filter{})
	if err != nil || len(all) != 2 || all[0].ID != open[0].ID {
		t.Errorf("all alerts = %+v, %v; want two, the new one first", all, err)
	}
	if old, err := m.Alert("bakery", first[0].ID); err != nil || old.Status != StatusResolved || old.Count != 1 {
		t.Errorf("Alert(first) = %+v, %v; want it resolved with count 1", old, err)
	}
}

func TestMerchantsDoNotSeeEachOther(t *testing.T) {
	m, _, _ := newMonitor(t)
	m.Observe(forged("bakery", "till-1"))
	m.Observe(forged("bakery-2", "till-1")) // a merchant whose id extends the first
	m.Observe(forged("cafe", "till-1"))

	for _, merchant := range []string{"bakery", "bakery-2", "cafe"} {
		as := openAlerts(t, m, merchant)
		if len(as) != 1 || as[0].Merchant != merchant {
			t.Errorf("Alerts(%s) = %+v, want only its own alert", merchant, as)
		}
		if n, _ := m.OpenCount(merchant); n != 1 {
			t.Errorf("OpenCount(%s) = %d, want 1", merchant, n)
		}
	}
	cafe := openAlerts(t, m, "cafe")[0]
	if _, err := m.Alert("bakery", cafe.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Alert(bakery, cafe's id) = %v, want ErrNotFound", err)
	}
	if _, err := m.Resolve("bakery", cafe.ID, "", "mallory"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(bakery, cafe's id) = %v, want ErrNotFound", err)
	}
	if a, _ := m.Alert("cafe", cafe.ID); a.Status != StatusOpen {
		t.Errorf("cafe's alert after bakery tried to resolve it: status %s, want open", a.Status)
	}
	if _, err := m.Alert("bakery", "no-such-id"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Alert(unknown id) = %v, want ErrNotFound", err)
	}
}

func TestAlertsFilter(t *testing.T) {
	m, clk, _ := newMonitor(t)
	start := clk.Now()
	// counterfeit (low), unissued_serial (critical), replay (medium),
	// compromised_key (high), an hour apart.
	m.Observe(refused(OpVerify, "wrong_merchant", "till-1", ""))
	clk.Advance(time.Hour)
	m.Observe(refused(OpVerify, "unissued_serial", "till-1", serial(1)))
	clk.Advance(time.Hour)
	m.Observe(refused(OpRedeem, "already_redeemed", "till-2", serial(2)))
	clk.Advance(time.Hour)
	m.Observe(refused(OpRedeem, "compromised_key", "till-2", serial(3)))
	kinds := func(as []Alert) (out []string) {
		for _, a := range as {
			out = append(out, a.Kind)
		}
		return out
	}
	for name, tc := range map[string]struct {
		f    Filter
		want []string
	}{
		"no filter lists all, newest first": {Filter{}, []string{KindCompromisedKey, KindReplay, KindUnissuedSerial, KindCounterfeit}},
		"a kind keeps that kind":            {Filter{Kind: KindReplay}, []string{KindReplay}},
		"a severity keeps the more severe":  {Filter{Severity: SeverityHigh}, []string{KindCompromisedKey, KindUnissuedSerial}},
		"since keeps the newer":             {Filter{Since: start.Add(90 * time.Minute)}, []string{KindCompromisedKey, KindReplay}},
		"a limit keeps the newest":          {Filter{Limit: 1}, []string{KindCompromisedKey}},
		"resolved lists none yet":           {Filter{Status: StatusResolved}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			as, err := m.Alerts("bakery", tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(as); !slices.Equal(got, tc.want) {
				t.Errorf("kinds = %v, want %v", got, tc.want)
			}
		})
	}
	for name, f := range map[string]Filter{
		"an unknown status is refused":   {Status: "closed"},
		"an unknown kind is refused":     {Kind: "theft"},
		"an unknown severity is refused": {Severity: "urgent"},
		"a huge limit is refused":        {Limit: MaxLimit + 1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := m.Alerts("bakery", f); !errors.Is(err, ErrInvalid) {
				t.Errorf("Alerts(%+v) = %v, want ErrInvalid", f, err)
			}
		})
	}
}
