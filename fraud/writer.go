package fraud

import (
	"sync"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// Alert writes off the request path.
//
// The first write of an incident opens its alert, and the request that
// raised it waits until that is durable: an alert is never lost to a
// crash. Later occurrences of an alert already in storage only add to its
// count and evidence; their writes are handed to one background writer,
// which puts all that are due into one transaction every collectFor. A request therefore
// waits for a commit only when it opens an alert. What a crash can lose is
// what it could lose before: occurrences not yet written (held back by
// WriteEvery, now also those in the writer's hands), never the alert.
//
// Alerts, Alert and Flush first wait for the writes handed over before
// they were called (settle), so that they count every occurrence once.

// writer is the queue of incidents whose flight delta is due.
type writer struct {
	mu              sync.Mutex
	queue           []*incident
	running         bool
	handed, written uint64    // incidents given to the writer, and written by it
	progress        sync.Cond // broadcast after each batch
}

// later hands inc, marked writing with its delta in inc.flight, to the
// background writer.
func (m *Monitor) later(inc *incident) {
	w := &m.writer
	w.mu.Lock()
	w.queue = append(w.queue, inc)
	w.handed++
	if !w.running {
		w.running = true
		go m.writeLoop()
	}
	w.mu.Unlock()
}

// collectFor is how long the writer gathers updates before a commit that
// would not be full: under a trickle of occurrences it commits some 20
// times a second instead of back to back, leaving the disk's syncs to the
// writes that requests wait for.
const collectFor = 50 * time.Millisecond

// maxWriterBatch bounds the alerts one commit rewrites: each is a JSON
// decode and encode inside the ledger's one write transaction, which every
// redemption waits for, so a storm of incidents is written in slices of
// a millisecond or so, not in one long transaction.
const maxWriterBatch = 64

// writeLoop writes what is queued, batch after batch, and stops when the
// queue is empty.
func (m *Monitor) writeLoop() {
	w := &m.writer
	for {
		w.mu.Lock()
		if len(w.queue) < maxWriterBatch {
			w.mu.Unlock()
			time.Sleep(collectFor)
			w.mu.Lock()
		}
		batch := w.queue
		if len(batch) > maxWriterBatch {
			batch = batch[:maxWriterBatch:maxWriterBatch]
		}
		w.queue = w.queue[len(batch):]
		if len(batch) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		m.writeBatch(batch)
		w.mu.Lock()
		w.written += uint64(len(batch))
		w.progress.Broadcast()
		w.mu.Unlock()
	}
}

// settle waits until every write handed to the writer before the call is
// done: at most the batch being written and the one queued behind it.
func (m *Monitor) settle() {
	w := &m.writer
	w.mu.Lock()
	for target := w.handed; w.written < target; {
		w.progress.Wait()
	}
	w.mu.Unlock()
}

// writeBatch writes the flight deltas of batch in one transaction. If that
// fails, each is written on its own, so that one bad record does not hold
// back the others.
func (m *Monitor) writeBatch(batch []*incident) {
	ids := make([]string, len(batch))
	for i := range ids {
		id, err := newAlertID()
		if err != nil {
			m.writeEach(batch)
			return
		}
		ids[i] = id
	}
	out := make([]Alert, len(batch))
	created := make([]bool, len(batch))
	err := m.store.Update(func(tx storage.Tx) error {
		for i, inc := range batch {
			var err error
			if out[i], created[i], err = m.persistFlight(tx, inc, ids[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		m.writeEach(batch)
		return
	}
	for i, inc := range batch {
		m.written(inc, delta{}, out[i], created[i], nil)
	}
}

// persistFlight writes inc's flight delta in tx. The occurrences of an
// incident resolved since they were handed over happened before the
// resolution: they go into the resolved alert, not into a new one.
func (m *Monitor) persistFlight(tx storage.Tx, inc *incident, id string) (Alert, bool, error) {
	m.mu.Lock()
	resolved := m.incidents[inc.key] != inc // a writing incident is never forgotten
	m.mu.Unlock()
	if resolved {
		var rec alertRecord
		if ak, err := m.load(tx, inc.key.merchant, inc.id, &rec); err == nil {
			rec.apply(&inc.flight, m.cfg.EvidenceLimit)
			return rec.Alert, false, storage.PutJSON(tx, storage.Alerts, ak, rec)
		}
	}
	return m.persistIn(tx, inc.key, &inc.flight, StatusOpen, id)
}

func (m *Monitor) writeEach(batch []*incident) {
	for _, inc := range batch {
		m.write(inc, inc.flight) // on failure it goes back to pend
	}
}
