package main

import (
	"net"
	"sync"
)

// perAddrListener closes, as soon as they are accepted, connections from
// an address that already holds max open connections: idle keep-alives
// cost memory, and one client must not hold them all.
type perAddrListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int
}

// limitPerAddr wraps ln; max below 1 leaves ln as it is.
func limitPerAddr(ln net.Listener, max int) net.Listener {
	if max < 1 {
		return ln
	}
	return &perAddrListener{Listener: ln, max: max, open: map[string]int{}}
}

func (l *perAddrListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(c.RemoteAddr().String())
		if err != nil {
			host = c.RemoteAddr().String()
		}
		l.mu.Lock()
		if l.open[host] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *perAddrListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

// countedConn gives its slot back once, when it is closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
