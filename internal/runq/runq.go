// Package runq tells background work whether requests are waiting for a
// CPU, so that it can step aside for them: Go's scheduler has no
// priorities, and a burst of background work on a busy core makes every
// request queued behind it wait.
package runq

import (
	"runtime/metrics"
	"sync"
	"time"
)

// Step is how long one step aside lasts.
const Step = 100 * time.Microsecond

var (
	mu     sync.Mutex
	sample = [1]metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}}
)

// Waiting reports whether any goroutine of this process, other than the
// caller, is waiting for a CPU. The runtime counts them under its scheduler
// lock: about a tenth of a microsecond, no allocation.
func Waiting() bool {
	mu.Lock()
	defer mu.Unlock()
	metrics.Read(sample[:])
	v := sample[0].Value
	return v.Kind() == metrics.KindUint64 && v.Uint64() > 0
}

// Yield steps aside, one Step at a time, while goroutines wait for a CPU,
// for at most max in all. It returns at once when none waits. A sleep,
// not runtime.Gosched: a yielding goroutine would be runnable again at
// once and keep the count above zero.
func Yield(max time.Duration) {
	deadline := time.Now().Add(max)
	for Waiting() && time.Now().Before(deadline) {
		time.Sleep(Step)
	}
}
