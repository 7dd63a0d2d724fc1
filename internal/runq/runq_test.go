package runq

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitingSeesGoroutinesQueuedForTheCPU(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var wg sync.WaitGroup
	var stop atomic.Bool
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				runtime.Gosched()
			}
		})
	}
	// The four spinners are runnable while this goroutine holds the P.
	seen := false
	for range 100 {
		if Waiting() {
			seen = true
			break
		}
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
	if !seen {
		t.Fatal("Waiting never saw four runnable goroutines on one P")
	}
}

func TestYieldReturnsWithinItsBound(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var spins atomic.Int64
	wg.Go(func() {
		for !stop.Load() {
			spins.Add(1)
			runtime.Gosched()
		}
	})
	// This goroutine holds the only P, so the spinner can run only while
	// Yield steps aside; and as it is always runnable, Yield waits out its
	// bound (the test hangs if Yield ignores it).
	Yield(5 * time.Millisecond)
	during := spins.Load()
	stop.Store(true)
	wg.Wait()
	if during == 0 {
		t.Fatal("the runnable goroutine did not run while Yield stepped aside")
	}
}

func BenchmarkWaiting(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Waiting()
	}
}
