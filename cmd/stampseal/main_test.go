package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary builds stampseal into the test's temporary directory; each test
// that runs the binary builds it (the build cache makes the later ones
// quick).
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stampseal")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running stampseal binary with the client that reaches it.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	base   string
	log    *syncBuffer
	client *http.Client
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs the binary's serve on data, with env added to the test's
// environment, and waits for /healthz.
func start(t *testing.T, bin, data string, env ...string) *proc {
	t.Helper()
	return launch(t, bin, freeAddr(t), "http", http.DefaultClient, []string{"--data", data}, append(os.Environ(), env...))
}

// launch runs the binary's serve on addr with args and exactly the
// environment env, and waits for /healthz over scheme with client. The
// process is killed when the test ends.
func launch(t *testing.T, bin, addr, scheme string, client *http.Client, args, env []string) *proc {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p := &proc{t: t, base: scheme + "://127.0.0.1:" + port, log: &syncBuffer{}, client: client}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr}, args...)...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	for range 200 {
		if resp, err := client.Get(p.base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not answer /healthz; log:\n%s", p.log)
	return nil
}

// stop ends the server as an operator does (SIGTERM) and fails the test
// unless it exits cleanly.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("server exit: %v\n%s", err, p.log)
	}
}

func (p *proc) call(token, method, path string, body any) (int, map[string]any) {
	p.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, p.base+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(out, &m)
	return resp.StatusCode, m
}

// bakery creates merchant bakery-1 as admin with an issuer key "pos" and a
// register key "till", and returns the answers that carry their tokens.
func (p *proc) bakery(admin string) (issuer, register map[string]any) {
	p.t.Helper()
	if st, body := p.call(admin, "POST", "/v1/merchants", map[string]any{"id": "bakery-1", "name": "Corner Bakery"}); st != 201 {
		p.t.Fatalf("create bakery-1 = %d %v", st, body)
	}
	_, issuer = p.call(admin, "POST", "/v1/apikeys", map[string]any{"merchant": "bakery-1", "role": "issuer", "name": "pos"})
	_, register = p.call(admin, "POST", "/v1/apikeys", map[string]any{"merchant": "bakery-1", "role": "register", "name": "till"})
	return issuer, register
}

// fetch GETs path as token into a new file name in a temporary directory
// and returns the file's path; any answer but 200 fails the test.
func (p *proc) fetch(token, path, name string) string {
	p.t.Helper()
	req, _ := http.NewRequest("GET", p.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := p.client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		p.t.Fatalf("GET %s: %v %v", path, err, resp)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	file := filepath.Join(p.t.TempDir(), name)
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return file
}

func TestRedemptionSurvivesSIGKILL(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	const admin = "kill-test-admin-token-123"
	p := start(t, bin, data, "STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	if st, _ := p.call(admin, "POST", "/v1/merchants", map[string]any{"id": "bakery-1", "name": "Corner Bakery"}); st != 201 {
		t.Fatalf("create merchant: %d", st)
	}
	_, ik := p.call(admin, "POST", "/v1/apikeys", map[string]any{"merchant": "bakery-1", "role": "issuer", "name": "pos"})
	_, rk := p.call(admin, "POST", "/v1/apikeys", map[string]any{"merchant": "bakery-1", "role": "register", "name": "till"})
	issuer, till := ik["token"].(string), rk["token"].(string)
	_, minted := p.call(issuer, "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "x", "valid_for": "1h", "count": 1})
	code := minted["coupons"].([]any)[0].(map[string]any)["code"].(string)
	if st, _ := p.call(till, "POST", "/v1/redeem", map[string]any{"code": code, "register": "till-1"}); st != 200 {
		t.Fatalf("redeem: %d", st)
	}
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(exposition), `stampseal_decisions_total{op="redeem",result="ok"} 1`) {
		t.Errorf("/metrics does not count the redemption:\n%s", exposition)
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()

	p = start(t, bin, data, "STAMPSEAL_BOOTSTRAP_TOKEN=ignored-after-the-first-start")
	st, body := p.call(till, "POST", "/v1/redeem", map[string]any{"code": code, "register": "till-2"})
	if st != 409 || body["error"].(map[string]any)["register"] != "till-1" {
		t.Errorf("redeem after SIGKILL and restart = %d %v; want 409 already redeemed by till-1", st, body)
	}
	// SIGTERM: in-flight requests finish, the database closes, exit 0.
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v; log:\n%s", err, p.log)
	}
	if strings.Contains(p.log.String(), admin) || strings.Contains(p.log.String(), till) || strings.Contains(p.log.String(), code) {
		t.Error("the server log carries a token or a code")
	}
}

func TestFirstStartWritesAdminTokenAndWarnsAboutTheMasterKey(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	p := start(t, bin, data, "STAMPSEAL_BOOTSTRAP_TOKEN=", "STAMPSEAL_MASTER_KEY=")
	fi, err := os.Stat(filepath.Join(data, "admin.token"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
	}
	token, _ := os.ReadFile(filepath.Join(data, "admin.token"))
	if st, _ := p.call(strings.TrimSpace(string(token)), "POST", "/v1/merchants", map[string]any{"id": "m", "name": "M"}); st != 201 {
		t.Errorf("the written admin token does not work: %d", st)
	}
	if !strings.Contains(p.log.String(), "WARNING") || !strings.Contains(p.log.String(), "master-key-file") {
		t.Errorf("no master key warning on stderr:\n%s", p.log)
	}
	if strings.Contains(p.log.String(), strings.TrimSpace(string(token))) {
		t.Error("the admin token was printed")
	}
}

func TestCLI(t *testing.T) {
	data := t.TempDir()
	var out, errb bytes.Buffer
	runOK := func(args ...string) string {
		t.Helper()
		out.Reset()
		errb.Reset()
		if err := run(args, &out, &errb); err != nil {
			t.Fatalf("stampseal %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	runOK("merchant", "create", "--data", data, "--id", "bakery-1", "--name", "Corner Bakery")
	if !strings.Contains(runOK("apikey", "create", "--data", data, "--merchant", "bakery-1", "--role", "register", "--name", "till 1"), `"token": "ssk_`) {
		t.Error("apikey create printed no token")
	}
	pub := filepath.Join(t.TempDir(), "pub.json")
	runOK("keys", "export", "--data", data, "--merchant", "bakery-1", "--out", pub)
	sheet := filepath.Join(t.TempDir(), "sheet.pdf")
	lines := strings.Split(strings.TrimSpace(runOK("issue", "coupons", "--data", data, "--merchant", "bakery-1", "--offer", "free coffee", "--count", "13", "--pdf", sheet)), "\n")
	if len(lines) != 13 {
		t.Fatalf("issue coupons --count 13 printed %d lines", len(lines))
	}
	code := strings.Split(lines[0], "\t")[2]
	if pdf, _ := os.ReadFile(sheet); !bytes.HasPrefix(pdf, []byte("%PDF")) {
		t.Error("--pdf wrote no PDF")
	}
	if got := runOK("verify", "--public-keyset", pub, code); !strings.HasPrefix(got, "VALID") {
		t.Errorf("offline verify = %q", got)
	}
	bad := code[:len(code)-4] + "0000"
	err := run([]string{"verify", "--public-keyset", pub, bad}, &out, &errb)
	if err != exitCode(2) || !strings.Contains(out.String(), "INVALID") {
		t.Errorf("offline verify of a tampered code = %v %q; want exit 2 and INVALID", err, out.String())
	}
	runOK("keys", "rotate", "--data", data, "--merchant", "bakery-1")
	if got := runOK("verify", "--public-keyset", pub, code); !strings.HasPrefix(got, "VALID") {
		t.Errorf("old public keyset after rotation should still verify old codes: %q", got)
	}
	backup := filepath.Join(t.TempDir(), "b.db")
	runOK("backup", "--data", data, "--out", backup)
	restored := t.TempDir()
	os.WriteFile(filepath.Join(restored, "master.key"), must(os.ReadFile(filepath.Join(data, "master.key"))), 0o600)
	runOK("restore", "--data", restored, "--in", backup)
	if err := run([]string{"restore", "--data", restored, "--in", backup}, &out, &errb); err == nil {
		t.Error("restore over an existing database without --force succeeded")
	}
	runOK("keys", "export", "--data", restored, "--merchant", "bakery-1")
	if err := run([]string{"bogus"}, &out, &errb); err == nil {
		t.Error("an unknown command succeeded")
	}
	for _, cmd := range [][]string{{"serve"}, {"merchant", "create"}, {"apikey", "create"}, {"keys", "rotate"}, {"keys", "export"}, {"issue", "coupons"}, {"verify"}, {"backup"}, {"restore"}} {
		errb.Reset()
		run(append(cmd, "-h"), &out, &errb)
		if !strings.Contains(errb.String(), "Usage: stampseal "+cmd[0]) {
			t.Errorf("%v -h printed %q", cmd, errb.String())
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestOnlineBackupRestores takes a backup over HTTP while the server
// serves, restores it into a new data directory with the same master key,
// and checks the restored server knows what was redeemed and who holds keys.
func TestOnlineBackupRestores(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	const admin = "backup-test-admin-token-1"
	p := start(t, bin, data, "STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	ik, rk := p.bakery(admin)
	issuer, till := ik["token"].(string), rk["token"].(string)
	_, minted := p.call(issuer, "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "x", "valid_for": "24h", "count": 2})
	used := minted["coupons"].([]any)[0].(map[string]any)["code"].(string)
	unused := minted["coupons"].([]any)[1].(map[string]any)["code"].(string)
	p.call(till, "POST", "/v1/redeem", map[string]any{"code": used, "register": "till-1"})

	snapshot := p.fetch(admin, "/v1/admin/backup", "snapshot.db")
	raw, _ := os.ReadFile(snapshot)
	if len(raw) == 0 {
		t.Fatal("empty backup")
	}
	master, _ := os.ReadFile(filepath.Join(data, "master.key"))
	if bytes.Contains(raw, bytes.TrimSpace(master)) {
		t.Error("the backup contains the master key")
	}

	restored := filepath.Join(t.TempDir(), "restored")
	os.MkdirAll(restored, 0o700)
	out, err := exec.Command(bin, "restore", "--data", restored, "--in", snapshot).CombinedOutput()
	if err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(restored, "master.key"), master, 0o600)
	q := start(t, bin, restored)
	if st, _ := q.call(till, "POST", "/v1/redeem", map[string]any{"code": used, "register": "till-2"}); st != 409 {
		t.Errorf("coupon redeemed before the backup, after restore: %d, want 409", st)
	}
	if st, _ := q.call(till, "POST", "/v1/redeem", map[string]any{"code": unused, "register": "till-2"}); st != 200 {
		t.Errorf("unused coupon after restore: %d, want 200", st)
	}
	if st, _ := q.call(issuer, "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "y", "count": 1}); st != 201 {
		t.Errorf("issuer key after restore: %d, want 201 (keys sign after restore)", st)
	}
}
