package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// conn is one client's keep-alive HTTP/1.1 connection, used by the
// measured run. It writes each request in one syscall and reads the answer
// on the same goroutine: net/http's client hands every request between
// three goroutines, and on a 2-core machine shared with the server that
// work is taken from the server being measured.
type conn struct {
	host string // host:port to dial
	nc   net.Conn
	r    *bufio.Reader
	req  []byte // reused request buffer
	body bytes.Buffer
}

func newConn(base string) (*conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("bench drives plain http, not %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	return &conn{host: host}, nil
}

// post sends one JSON request and returns the status and body; the body is
// valid until the next call. After any error the connection is dropped and
// the next call dials again.
func (c *conn) post(path, token string, body []byte) (int, []byte, error) {
	if c.nc == nil {
		nc, err := net.DialTimeout("tcp", c.host, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		c.nc, c.r = nc, bufio.NewReaderSize(nc, 16<<10)
	}
	c.req = append(c.req[:0], "POST "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.host...)
	c.req = append(c.req, "\r\nAuthorization: Bearer "...)
	c.req = append(c.req, token...)
	c.req = append(c.req, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	status, out, err := c.roundTrip()
	if err != nil {
		c.nc.Close()
		c.nc = nil
	}
	return status, out, err
}

func (c *conn) roundTrip() (int, []byte, error) {
	c.nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.nc.Write(c.req); err != nil {
		return 0, nil, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return 0, nil, err
	}
	c.body.Reset()
	_, err = io.Copy(&c.body, resp.Body)
	resp.Body.Close()
	if err == nil && resp.Close {
		// The server ends the connection after this answer, which is
		// still good: dial again for the next request.
		c.nc.Close()
		c.nc = nil
	}
	return resp.StatusCode, c.body.Bytes(), err
}

func (c *conn) close() {
	if c.nc != nil {
		c.nc.Close()
	}
}
