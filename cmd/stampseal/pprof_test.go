package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPprofAddrIsLoopbackOnly(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{":6060", "127.0.0.1:6060", true},
		{"127.0.0.1:6060", "127.0.0.1:6060", true},
		{"[::1]:6060", "[::1]:6060", true},
		{"localhost:6060", "localhost:6060", true},
		{"0.0.0.0:6060", "", false},
		{"[::]:6060", "", false},
		{"10.0.0.5:6060", "", false},
		{"example.com:6060", "", false},
		{"6060", "", false},
	} {
		got, err := pprofAddr(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("pprofAddr(%q) = %q, %v; want %q, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

// The profiles are off by default, on their own loopback listener when
// asked for, and a non-loopback address is refused before anything starts.
func TestPprofBehindAFlag(t *testing.T) {
	bin := binary(t)
	get := func(url string) (int, string) { t.Helper(); return getStatus(t, url) }

	plain := startWith(t, bin, filepath.Join(t.TempDir(), "data"), nil)
	if code, _ := get(plain.base + "/debug/pprof/"); code == 200 {
		t.Errorf("GET /debug/pprof/ on the API without --pprof-addr = 200, want it not served")
	}

	paddr := freeAddr(t)
	p := startWith(t, bin, filepath.Join(t.TempDir(), "data"), nil, "--pprof-addr", paddr)
	if code, _ := get(p.base + "/debug/pprof/"); code == 200 {
		t.Errorf("GET /debug/pprof/ on the API's address = 200, want it only on --pprof-addr")
	}
	if code, body := get("http://" + paddr + "/debug/pprof/cmdline"); code != 200 || !strings.Contains(body, "serve") {
		t.Errorf("GET /debug/pprof/cmdline on --pprof-addr = %d %.100q", code, body)
	}
	if code, body := get("http://" + paddr + "/debug/pprof/mutex?debug=1"); code != 200 || !strings.Contains(body, "sampling period=") {
		t.Errorf("GET /debug/pprof/mutex on --pprof-addr = %d %.100q", code, body)
	}

	data := filepath.Join(t.TempDir(), "data")
	out, err := exec.Command(bin, "serve", "--data", data, "--addr", freeAddr(t), "--pprof-addr", "0.0.0.0:6060").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "loopback only") {
		t.Errorf("serve --pprof-addr 0.0.0.0:6060: %v, want a refusal:\n%s", err, out)
	}
}

// --trace-slow writes the flight recorder's window when a request took
// that long: with 1ns every request does, and the file is a Go trace.
func TestSlowRequestWritesATrace(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	p := startWith(t, bin, data, nil, "--trace-slow", "1ns")
	if code, _ := getStatus(t, p.base+"/healthz"); code != 200 {
		t.Fatalf("GET /healthz = %d", code)
	}
	var files []string
	for range 400 { // the trace is written after the answer, in the background
		files, _ = filepath.Glob(filepath.Join(data, "traces", "slow-*.trace"))
		if len(files) > 0 {
			if raw, _ := os.ReadFile(files[0]); len(raw) > 16 && strings.HasPrefix(string(raw), "go 1.") {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("traces written: %v (log:\n%s)", files, p.log)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil || !strings.HasPrefix(string(raw), "go 1.") {
		t.Fatalf("%s: %v, starts %.12q; want a Go execution trace", files[0], err, raw)
	}
	// A second slow request within the minute writes nothing more.
	getStatus(t, p.base+"/healthz")
	if again, _ := filepath.Glob(filepath.Join(data, "traces", "slow-*.trace")); len(again) != 1 {
		t.Errorf("traces after a second slow request within a minute: %v, want still one", again)
	}

	out, err := exec.Command(bin, "serve", "--data", filepath.Join(t.TempDir(), "d2"), "--addr", freeAddr(t), "--trace-slow", "-1s").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--trace-slow") {
		t.Errorf("serve --trace-slow -1s: %v, want a refusal:\n%s", err, out)
	}
}

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
