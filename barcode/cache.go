package barcode

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// Cache holds rendered PNGs in memory, least recently used first out once
// their bytes pass a bound. The barcode of a credential never changes, so
// an entry is never stale; the API serves it with "Cache-Control: private,
// max-age=31536000, immutable" (private: a barcode is a bearer credential,
// not for shared caches) and answers If-None-Match with 304. A Cache is safe for concurrent use, and
// concurrent first fetches of one entry render it once.
type Cache struct {
	maxBytes int
	render   func(content string, sym Symbology, size int) ([]byte, error) // Render; tests count calls

	mu       sync.Mutex
	bytes    int
	lru      *list.List // of *entry, most recent at the front
	entries  map[cacheKey]*list.Element
	inflight map[cacheKey]*call
}

type cacheKey struct {
	key  string
	sym  Symbology
	size int
}

type entry struct {
	k       cacheKey
	content string
	png     []byte
	etag    string
}

// call is one render in progress; waiters block on done.
type call struct {
	done chan struct{}
	e    *entry
	err  error
}

// NewCache returns a Cache that keeps at most maxBytes of PNG data (plus
// small bookkeeping). With maxBytes <= 0 it keeps nothing but still merges
// concurrent renders.
func NewCache(maxBytes int) *Cache {
	return &Cache{
		maxBytes: maxBytes,
		render:   Render,
		lru:      list.New(),
		entries:  map[cacheKey]*list.Element{},
		inflight: map[cacheKey]*call{},
	}
}

// PNG returns Render(content, sym, size) and its strong ETag (the quoted
// hex SHA-256 of the PNG), rendering on first use and serving from memory
// after. key names the credential (e.g. its serial); sym and size are part
// of the cache key, and an entry found under key with other content is
// rendered anew, so a reused key never serves a wrong barcode. The returned
// slice is shared: do not modify it. Errors are those of Render and are not
// cached.
func (c *Cache) PNG(key, content string, sym Symbology, size int) (png []byte, etag string, err error) {
	k := cacheKey{key, sym, size}
	c.mu.Lock()
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*entry)
		if e.content == content {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			return e.png, e.etag, nil
		}
	}
	if cl, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		<-cl.done
		if cl.e.content == content {
			return cl.e.png, cl.e.etag, cl.err
		}
		return c.PNG(key, content, sym, size) // same key, other content: start over
	}
	cl := &call{done: make(chan struct{}), e: &entry{k: k, content: content}}
	c.inflight[k] = cl
	c.mu.Unlock()

	// Render outside the lock: it takes milliseconds.
	cl.e.png, cl.err = c.render(content, sym, size)
	if cl.err == nil {
		sum := sha256.Sum256(cl.e.png)
		cl.e.etag = `"` + hex.EncodeToString(sum[:]) + `"`
	}

	c.mu.Lock()
	delete(c.inflight, k)
	if cl.err == nil {
		c.add(cl.e)
	}
	c.mu.Unlock()
	close(cl.done)
	return cl.e.png, cl.e.etag, cl.err
}

// add stores e and evicts from the back until the bound holds. The caller
// holds c.mu.
func (c *Cache) add(e *entry) {
	if len(e.png) > c.maxBytes {
		return // would evict everything and still not fit
	}
	if el, ok := c.entries[e.k]; ok {
		c.remove(el)
	}
	c.entries[e.k] = c.lru.PushFront(e)
	c.bytes += len(e.png)
	for c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

func (c *Cache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*entry)
	delete(c.entries, e.k)
	c.bytes -= len(e.png)
}

// Len reports how many PNGs the cache holds and their total bytes.
func (c *Cache) Len() (entries, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}
