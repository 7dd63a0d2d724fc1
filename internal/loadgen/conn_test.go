package loadgen

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestConnKeepsAliveAndRedialsWhenTheServerCloses(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad headers", http.StatusBadRequest)
			return
		}
		if strings.Contains(string(body), "bye") {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("echo " + r.URL.Path + " " + string(body)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c, err := newConn(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	for i, tc := range []struct{ body, wantConns string }{
		{`{"n":1}`, "1"}, {`{"n":2}`, "1"}, {`{"bye":true}`, "1"}, {`{"n":3}`, "2"},
	} {
		status, out, err := c.post("/v1/x", "tok", []byte(tc.body))
		if err != nil || status != http.StatusCreated || string(out) != "echo /v1/x "+tc.body {
			t.Fatalf("request %d: %d %q %v, want 201 and the echo", i, status, out, err)
		}
		if got := strconv.FormatInt(conns.Load(), 10); got != tc.wantConns {
			t.Errorf("after request %d the server saw %s connections, want %s", i, got, tc.wantConns)
		}
	}
}

func TestConnRefusesHTTPS(t *testing.T) {
	if _, err := newConn("https://127.0.0.1:1"); err == nil {
		t.Fatal("newConn accepted an https address it cannot speak")
	}
}
