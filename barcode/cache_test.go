package barcode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingCache returns a cache whose renders are counted and, if gate is
// not nil, held until gate is closed.
func countingCache(maxBytes int, gate chan struct{}) (*Cache, *atomic.Int64) {
	c := NewCache(maxBytes)
	var n atomic.Int64
	c.render = func(content string, sym Symbology, size int) ([]byte, error) {
		n.Add(1)
		if gate != nil {
			<-gate
		}
		return Render(content, sym, size)
	}
	return c, &n
}

func TestCachePNG(t *testing.T) {
	code := testCode(180, 8)
	c, renders := countingCache(1<<20, nil)

	first, etag, err := c.PNG("serial-1", code, QR, 300)
	if err != nil {
		t.Fatalf("PNG: %v", err)
	}
	want, _ := Render(code, QR, 300)
	if !bytes.Equal(first, want) {
		t.Errorf("cached PNG differs from Render's")
	}
	sum := sha256.Sum256(first)
	if wantTag := `"` + hex.EncodeToString(sum[:]) + `"`; etag != wantTag {
		t.Errorf("etag = %s, want %s", etag, wantTag)
	}

	again, etag2, err := c.PNG("serial-1", code, QR, 300)
	if err != nil || etag2 != etag || &again[0] != &first[0] {
		t.Errorf("second fetch: etag %s, err %v, same bytes %v; want the stored entry", etag2, err, &again[0] == &first[0])
	}
	if got := renders.Load(); got != 1 {
		t.Errorf("renders = %d after two fetches, want 1", got)
	}

	// Steps run in order: each counts the renders so far.
	steps := []struct {
		name         string
		key, content string
		sym          Symbology
		size         int
		wantRenders  int64
	}{
		{"another size renders anew", "serial-1", code, QR, 200, 2},
		{"another symbology renders anew", "serial-1", code, Aztec, 300, 3},
		{"a reused key with new content renders", "serial-1", testCode(180, 9), QR, 300, 4},
		{"the new content is then served from cache", "serial-1", testCode(180, 9), QR, 300, 4},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := c.PNG(tt.key, tt.content, tt.sym, tt.size)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Render(tt.content, tt.sym, tt.size)
			if !bytes.Equal(got, want) {
				t.Errorf("PNG differs from Render(%s, %d)", tt.sym, tt.size)
			}
			if n := renders.Load(); n != tt.wantRenders {
				t.Errorf("renders = %d, want %d", n, tt.wantRenders)
			}
		})
	}
}

func TestCacheErrorsAreNotCached(t *testing.T) {
	c, renders := countingCache(1<<20, nil)
	for range 2 {
		if _, _, err := c.PNG("k", "", QR, 300); err == nil {
			t.Fatal("PNG of empty content: want an error")
		}
	}
	if n := renders.Load(); n != 2 {
		t.Errorf("renders = %d, want 2 (errors are retried)", n)
	}
	if n, _ := c.Len(); n != 0 {
		t.Errorf("cache holds %d entries after errors, want 0", n)
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	one, _ := Render(testCode(180, 10), QR, 300)
	// Room for about three PNGs of this size.
	c, renders := countingCache(3*len(one)+len(one)/2, nil)
	for i := range 3 {
		if _, _, err := c.PNG(string(rune('a'+i)), testCode(180, uint64(10+i)), QR, 300); err != nil {
			t.Fatal(err)
		}
	}
	c.PNG("a", testCode(180, 10), QR, 300)                               // a is now the most recent
	if _, _, err := c.PNG("d", testCode(180, 13), QR, 300); err != nil { // evicts b
		t.Fatal(err)
	}
	n, size := c.Len()
	if size > 3*len(one)+len(one)/2 {
		t.Errorf("cache holds %d bytes, over its bound", size)
	}
	before := renders.Load()
	c.PNG("a", testCode(180, 10), QR, 300)
	if renders.Load() != before {
		t.Errorf("recently used entry a was evicted")
	}
	c.PNG("b", testCode(180, 11), QR, 300)
	if renders.Load() != before+1 {
		t.Errorf("least recently used entry b was kept (%d entries)", n)
	}
}

func TestCacheLargerThanBoundIsNotStored(t *testing.T) {
	c, _ := countingCache(10, nil)
	if _, _, err := c.PNG("a", testCode(180, 1), QR, 300); err != nil {
		t.Fatal(err)
	}
	if n, size := c.Len(); n != 0 || size != 0 {
		t.Errorf("cache holds %d entries, %d bytes; want none", n, size)
	}
}

// TestCacheRendersOnceForConcurrentFirstFetches holds the first render
// until all fetchers are waiting, then checks only one render ran.
func TestCacheRendersOnceForConcurrentFirstFetches(t *testing.T) {
	gate := make(chan struct{})
	c, renders := countingCache(1<<20, gate)
	code := testCode(180, 14)
	const fetchers = 16
	var wg sync.WaitGroup
	etags := make([]string, fetchers)
	for i := range fetchers {
		wg.Go(func() {
			_, etag, err := c.PNG("serial", code, QR, 300)
			if err != nil {
				t.Error(err)
			}
			etags[i] = etag
		})
	}
	// Let the goroutines reach the cache; the render is held at the gate.
	for renders.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(gate)
	wg.Wait()
	if n := renders.Load(); n != 1 {
		t.Errorf("renders = %d for %d concurrent fetches, want 1", n, fetchers)
	}
	for i, e := range etags {
		if e != etags[0] {
			t.Errorf("fetcher %d got etag %s, want %s", i, e, etags[0])
		}
	}
}

// TestCachedFetchIsCheaper holds the cache to its purpose: a cached fetch
// costs at most a twentieth of a render.
func TestCachedFetchIsCheaper(t *testing.T) {
	render := testing.Benchmark(BenchmarkRenderQR)
	cached := testing.Benchmark(BenchmarkCachePNG)
	ratio := float64(render.NsPerOp()) / float64(max(cached.NsPerOp(), 1))
	t.Logf("render %d ns/op, cached %d ns/op: %.0fx", render.NsPerOp(), cached.NsPerOp(), ratio)
	if ratio < 20 {
		t.Errorf("cached fetch only %.1fx cheaper than a render, want at least 20x", ratio)
	}
}

func BenchmarkCachePNG(b *testing.B) {
	c := NewCache(1 << 20)
	code := testCode(180, 6)
	if _, _, err := c.PNG("serial", code, QR, DefaultSize); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.PNG("serial", code, QR, DefaultSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCachePNGParallel(b *testing.B) {
	c := NewCache(1 << 20)
	code := testCode(180, 6)
	if _, _, err := c.PNG("serial", code, QR, DefaultSize); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.PNG("serial", code, QR, DefaultSize); err != nil {
				b.Error(err)
			}
		}
	})
}
