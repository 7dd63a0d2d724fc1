package fraud

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// heldStore is a real store whose commits can be held back, to show which
// calls wait for one.
type heldStore struct {
	*storage.Bolt
	gate chan struct{} // a receive per commit while held; nil: open
}

func (s *heldStore) Update(fn func(storage.Tx) error) error {
	if g := s.gate; g != nil {
		<-g
	}
	return s.Bolt.Update(fn)
}

// copyFile copies what is on disk now: what a crash would leave.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// The request that opens an alert returns once the alert is durable; the
// requests that only add to an open alert do not wait for a commit; a
// crash (the file as it is on disk) keeps every alert that was opened, and
// Alerts after the writer is through counts every occurrence once.
func TestAlertUpdatesLeaveTheRequestPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stampseal.db")
	b, err := storage.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	st := &heldStore{Bolt: b}
	clk := newClock()
	m := New(st, DefaultConfig(), WithClock(clk.Now))
	replay := func(s string) Event {
		return Event{Op: OpRedeem, Result: "already_redeemed", Merchant: "bakery", Register: "till-2", Serial: s}
	}

	m.Observe(replay(serial(1))) // opens the alert: durable before it returns
	crashed := filepath.Join(dir, "crashed.db")
	copyFile(t, path, crashed)

	// From now on no commit passes until the test says so.
	gate := make(chan struct{})
	st.gate = gate
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		for range 5 {
			clk.Advance(2 * DefaultConfig().WriteEvery)
			m.Observe(replay(serial(1))) // returns: its write is the writer's
		}
	}()
	select {
	case <-observed:
	case <-time.After(time.Minute): // a deadlock guard, not a measure
		t.Fatal("Observe of an open alert's occurrence waited for a commit")
	}

	// A crash now loses occurrences, never the alert.
	cb, err := storage.OpenBolt(crashed)
	if err != nil {
		t.Fatal(err)
	}
	after := New(cb, DefaultConfig(), WithClock(clk.Now))
	if as := openAlerts(t, after, "bakery"); len(as) != 1 || as[0].Count < 1 || as[0].Serial != serial(1) {
		t.Errorf("alerts after a crash = %+v, want the opened alert", as)
	}
	cb.Close()

	// Let the writer through and flush: every occurrence is stored.
	go openGate(gate)
	if as := openAlerts(t, m, "bakery"); len(as) != 1 || as[0].Count != 6 {
		t.Errorf("alerts once the writer is through = %+v, want one with count 6", as)
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	st.gate = nil
	b.Close()
	b2, err := storage.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if as := openAlerts(t, New(b2, DefaultConfig(), WithClock(clk.Now)), "bakery"); len(as) != 1 || as[0].Count != 6 {
		t.Errorf("alerts after Flush and a restart = %+v, want one with count 6", as)
	}
}

// Occurrences handed to the writer before the alert was resolved go into
// the resolved alert, not into a new one.
func TestResolvedWhileTheWriterHoldsItsOccurrences(t *testing.T) {
	b, err := storage.OpenBolt(filepath.Join(t.TempDir(), "stampseal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st := &heldStore{Bolt: b}
	clk := newClock()
	m := New(st, DefaultConfig(), WithClock(clk.Now))
	ev := Event{Op: OpRedeem, Result: "already_redeemed", Merchant: "bakery", Register: "till-2", Serial: serial(7)}
	m.Observe(ev)
	id := openAlerts(t, m, "bakery")[0].ID

	gate := make(chan struct{})
	st.gate = gate
	clk.Advance(2 * DefaultConfig().WriteEvery)
	m.Observe(ev) // in the writer's hands, held at the gate
	resolved := make(chan error, 1)
	go func() { _, err := m.Resolve("bakery", id, "seen", "auditor"); resolved <- err }()
	go openGate(gate)
	if err := <-resolved; err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(); err != nil {
		t.Fatal(err)
	}
	all, err := m.Alerts("bakery", Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != id || all[0].Count != 2 || all[0].Status != StatusResolved {
		t.Errorf("alerts = %+v, want the one resolved alert with count 2", all)
	}
}

// openGate lets every write through the gate until none has come for ten
// seconds, so a held writer drains and the goroutine still ends.
func openGate(gate chan<- struct{}) {
	for {
		select {
		case gate <- struct{}{}:
		case <-time.After(10 * time.Second):
			return
		}
	}
}
