package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeOnOneCPUKeepsTwoProcs: a server given one CPU still runs with
// two Ps (procs.go), unless the operator chose GOMAXPROCS.
func TestServeOnOneCPUKeepsTwoProcs(t *testing.T) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Fatalf("this test needs taskset (util-linux): %v", err)
	}
	bin := binary(t)
	oneCPU := filepath.Join(t.TempDir(), "one-cpu")
	script := "#!/bin/sh\nexec " + taskset + " -c 0 " + bin + " \"$@\"\n"
	if err := os.WriteFile(oneCPU, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env, want string
	}{
		{"GOMAXPROCS=", "go_sched_gomaxprocs_threads 2\n"},
		{"GOMAXPROCS=1", "go_sched_gomaxprocs_threads 1\n"},
	} {
		p := start(t, oneCPU, filepath.Join(t.TempDir(), "data"), tc.env)
		resp, err := p.client.Get(p.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("with %s on one CPU, /metrics lacks %q", tc.env, tc.want)
		}
		p.stop()
	}
}
