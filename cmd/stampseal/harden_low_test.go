package main

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --metrics-addr moves GET /metrics off the API's address.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	bin := binary(t)
	maddr := freeAddr(t)
	p := startWith(t, bin, filepath.Join(t.TempDir(), "data"), nil, "--metrics-addr", maddr)
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /metrics on the API's address with --metrics-addr = %d, want 404", resp.StatusCode)
	}
	resp, err = http.Get("http://" + maddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "stampseal_") {
		t.Errorf("GET /metrics on --metrics-addr = %d %.100s", resp.StatusCode, body)
	}
}

// One address holds at most --max-conns-per-addr connections, and a
// header over the cap is refused.
func TestConnectionsAreBounded(t *testing.T) {
	bin := binary(t)
	p := startWith(t, bin, filepath.Join(t.TempDir(), "data"), nil, "--max-conns-per-addr", "4")
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	addr := strings.TrimPrefix(p.base, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	closed := 0
	for range 8 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// A connection over the cap is closed at once: a read sees EOF; one
		// within it waits for a request until the deadline.
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed < 4 {
		t.Errorf("%d of 8 idle connections from one address were closed, want at least 4 (cap 4)", closed)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	req, _ := http.NewRequest("GET", p.base+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	var resp *http.Response
	var err error
	for range 50 { // the server notices the closed connections shortly
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a 64 KiB header = %d, want 431", resp.StatusCode)
	}
}

// An all-zero master key is refused; a master key file others can read
// starts the server with a loud warning.
func TestMasterKeyChecks(t *testing.T) {
	bin := binary(t)
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	cmd := exec.Command(bin, "serve", "--addr", freeAddr(t), "--data", filepath.Join(t.TempDir(), "data"))
	cmd.Env = []string{"STAMPSEAL_MASTER_KEY=" + zero}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "equal bytes") {
		t.Errorf("all-zero master key: err %v, output %s; want a refusal", err, out)
	}
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	p := startWith(t, bin, filepath.Join(t.TempDir(), "data"), nil, "--master-key-file", path)
	if !strings.Contains(p.log.String(), "MASTER KEY READABLE BY OTHERS") {
		t.Errorf("a 0644 master key file started without a warning:\n%s", p.log)
	}
}
