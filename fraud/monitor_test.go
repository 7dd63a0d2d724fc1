package fraud

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// clock is a settable time source for the monitor.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts write transactions of a real store.
type countingStore struct {
	storage.Backend
	updates atomic.Int64
}

func (s *countingStore) Update(fn func(storage.Tx) error) error {
	s.updates.Add(1)
	return s.Backend.Update(fn)
}

// recorder is a Metrics that remembers what it was told.
type recorder struct {
	mu     sync.Mutex
	raised map[string]int
	open   int
}

func (r *recorder) AlertRaised(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.raised == nil {
		r.raised = map[string]int{}
	}
	r.raised[kind]++
}

func (r *recorder) OpenAlerts(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.open = n
}

func openStore(t testing.TB) *countingStore {
	t.Helper()
	s, err := storage.OpenBolt(filepath.Join(t.TempDir(), "stampseal.db"))
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return &countingStore{Backend: s}
}

func newMonitor(t testing.TB, opts ...Option) (*Monitor, *clock, *countingStore) {
	t.Helper()
	st := openStore(t)
	c := newClock()
	return New(st, DefaultConfig(), append([]Option{WithClock(c.Now)}, opts...)...), c, st
}

// serial makes a 32-hex-digit serial from a number.
func serial(n int) string { return fmt.Sprintf("%032x", n) }

func openAlerts(t *testing.T, m *Monitor, merchant string) []Alert {
	t.Helper()
	as, err := m.Alerts(merchant, Filter{Status: StatusOpen})
	if err != nil {
		t.Fatalf("Alerts(%s): %v", merchant, err)
	}
	return as
}

func TestFloodOfInvalidCodes(t *testing.T) {
	rec := &recorder{}
	m, clk, st := newMonitor(t, WithMetrics(rec))
	const n = 10000
	for i := range n {
		m.Observe(Event{Op: OpVerify, Result: "invalid_signature", Merchant: "bakery", Register: fmt.Sprintf("label-%d", i%40),
			APIKey: "key-1", Source: "10.0.0.1", Serial: serial(i), CodeHash: fmt.Sprintf("%016x", i), KeyID: 7})
		clk.Advance(time.Millisecond)
	}

	as := openAlerts(t, m, "bakery")
	if len(as) > 3 {
		t.Errorf("open alerts after %d invalid codes = %d, want at most 3", n, len(as))
	}
	counts := map[string]int{}
	for _, a := range as {
		counts[a.Kind] = a.Count
		if l := len(a.Evidence.Serials); l > DefaultConfig().EvidenceLimit {
			t.Errorf("%s evidence lists %d serials, want at most %d", a.Kind, l, DefaultConfig().EvidenceLimit)
		}
	}
	if counts[KindGuessing] != n || counts[KindCounterfeit] != n {
		t.Errorf("counts = %v, want guessing and counterfeit each %d", counts, n)
	}
	if got := st.updates.Load(); got > 40 {
		t.Errorf("store writes during a 10s flood = %d, want at most 40 (one per incident per second)", got)
	}
	var keys int
	st.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Alerts, nil, func(_, _ []byte) error { keys++; return nil })
	})
	if keys > 3 {
		t.Errorf("alerts stored = %d, want at most 3", keys)
	}
	if rec.raised[KindGuessing] != 1 || rec.open != len(as) {
		t.Errorf("metrics: raised %v, open %d; want guessing raised once, open %d", rec.raised, rec.open, len(as))
	}

	retry, throttled := m.Throttled("bakery", "key-1")
	if !throttled || retry <= 0 || retry > DefaultConfig().ThrottleFor {
		t.Errorf("Throttled(key-1) = %v, %v; want true with 0 < retryAfter <= %v", retry, throttled, DefaultConfig().ThrottleFor)
	}
	// Another till behind the same address, naming itself like the first.
	m.Observe(Event{Op: OpRedeem, Result: ResultOK, Merchant: "bakery", Register: "label-1", APIKey: "key-2", Source: "10.0.0.1", Serial: serial(1), Kind: "coupon"})
	if retry, throttled := m.Throttled("bakery", "key-2"); throttled {
		t.Errorf("Throttled(key-2) = %v, true; want another key behind the same address not throttled", retry)
	}
	if _, throttled := m.Throttled("other-shop", "key-1"); throttled {
		t.Errorf("Throttled(other-shop key-1) = true, want false: throttles are per merchant")
	}
	clk.Advance(DefaultConfig().ThrottleFor)
	if retry, throttled := m.Throttled("bakery", "key-1"); throttled {
		t.Errorf("Throttled(key-1) after the throttle duration = %v, true; want false", retry)
	}
}

func TestOneInvalidCodeDoesNotThrottle(t *testing.T) {
	m, _, _ := newMonitor(t)
	m.Observe(Event{Op: OpRedeem, Result: "malformed", Merchant: "bakery", Register: "till-1", APIKey: "key-1", Source: "10.0.0.1"})
	if retry, throttled := m.Throttled("bakery", "key-1"); throttled {
		t.Errorf("Throttled after one malformed scan = %v, true; want false", retry)
	}
}

func TestConcurrentObserve(t *testing.T) {
	m, _, _ := newMonitor(t)
	const workers, each = 50, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m.Observe(Event{Op: OpVerify, Result: "invalid_signature", Merchant: "bakery", Register: "till-1", APIKey: "key-1", Serial: serial(i)})
				m.Observe(Event{Op: OpStamp, Result: ResultOK, Merchant: "bakery", Register: fmt.Sprintf("till-%d", w), APIKey: fmt.Sprintf("key-%d", w+2), Serial: serial(w*each + i), Kind: "card"})
				if i%50 == 0 {
					m.Throttled("bakery", "key-1")
					if _, err := m.Alerts("bakery", Filter{}); err != nil {
						t.Errorf("Alerts: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := m.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	as := openAlerts(t, m, "bakery")
	got := map[string]int{}
	for _, a := range as {
		got[a.Kind] += a.Count
	}
	want := map[string]int{KindCounterfeit: workers * each, KindGuessing: workers * each}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("alert counts after concurrent Observe = %v, want %v", got, want)
	}
}

func TestRestartFindsTheOpenAlert(t *testing.T) {
	st := openStore(t)
	clk := newClock()
	ev := Event{Op: OpRedeem, Result: "already_redeemed", Merchant: "bakery", Register: "till-2", Serial: serial(1)}
	New(st, Config{}, WithClock(clk.Now)).Observe(ev)

	rec := &recorder{}
	m := New(st, Config{}, WithClock(clk.Now), WithMetrics(rec))
	if rec.open != 1 {
		t.Errorf("open alerts reported at start = %d, want 1", rec.open)
	}
	m.Observe(ev)
	as := openAlerts(t, m, "bakery")
	if len(as) != 1 || as[0].Count != 2 {
		t.Fatalf("alerts after a restart and a second replay = %+v, want one with count 2", as)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want bool
	}{
		"the zero config takes the defaults":    {Config{}, true},
		"the defaults are valid":                {DefaultConfig(), true},
		"a negative window is refused":          {Config{DuplicateWindow: -time.Second}, false},
		"a share above one is refused":          {Config{InsiderShare: 1.5}, false},
		"a velocity limit beyond history fails": {Config{VelocityLimit: maxHistory}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.want {
				t.Errorf("Validate() = %v, want ok %v", err, tc.want)
			}
		})
	}
}

func BenchmarkObserve(b *testing.B) {
	cards := make([]string, 4096)
	for i := range cards {
		cards[i] = serial(i)
	}
	registers := []string{"till-1", "till-2", "till-3", "till-4", "till-5", "till-6", "till-7"}
	base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

	// An honest day: each card comes back about hourly, at any register.
	b.Run("ok stamp", func(b *testing.B) {
		m := New(openStore(b), DefaultConfig())
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m.Observe(Event{Time: base.Add(time.Duration(i) * time.Second), Op: OpStamp, Result: ResultOK,
				Merchant: "bakery", Register: registers[i%len(registers)], Serial: cards[i%len(cards)], Kind: "card", Stamps: 1})
		}
	})
	b.Run("ok stamp parallel", func(b *testing.B) {
		m := New(openStore(b), DefaultConfig())
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				m.Observe(Event{Time: base.Add(time.Duration(i) * time.Second), Op: OpStamp, Result: ResultOK,
					Merchant: "bakery", Register: registers[i%len(registers)], Serial: cards[i%len(cards)], Kind: "card", Stamps: 1})
			}
		})
	})
	// A flood of forged codes from one register: two hot incidents.
	b.Run("invalid code", func(b *testing.B) {
		m := New(openStore(b), DefaultConfig())
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m.Observe(Event{Time: base.Add(time.Duration(i) * time.Millisecond), Op: OpVerify, Result: "invalid_signature",
				Merchant: "bakery", Register: "till-1", Source: "10.0.0.1", Serial: cards[i%len(cards)], KeyID: 7})
		}
	})
}
