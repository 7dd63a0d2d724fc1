package till_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// buildBinary builds stampseal for tests that run the agent as a process.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stampseal")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/stampseal/stampseal/cmd/stampseal")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// agentProcess is `stampseal till` running as its own process.
type agentProcess struct {
	cmd  *exec.Cmd
	url  string
	logs *strings.Builder
}

func startAgentProcess(t *testing.T, bin, upstream, token, data string) *agentProcess {
	t.Helper()
	addr := freeAddr(t)
	p := &agentProcess{url: "http://" + addr, logs: &strings.Builder{}}
	p.cmd = exec.Command(bin, "till", "--upstream", upstream, "--data", data, "--addr", addr, "--timeout", "3s", "--refresh", "1s")
	p.cmd.Env = append(os.Environ(), "STAMPSEAL_TILL_TOKEN="+token)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	waitFor(t, "the agent's first snapshot", func() bool {
		r, err := tryCall(p.url, "GET", "/healthz")
		return err == nil && r.status == 200 && r.str("snapshot_age_seconds") != "-1"
	})
	return p
}

func (p *agentProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// waitFor polls cond until it holds; a minute without is a failure (of
// progress, not of speed).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tryCall(base, method, path string) (r reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return call(fatalTB{}, base, method, path, "", nil), nil
}

// fatalTB turns a failed call into a panic that tryCall recovers.
type fatalTB struct{ testing.TB }

func (fatalTB) Helper()                   {}
func (fatalTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// syncedOps counts the operations the server has remembered as synced.
func (s *server) syncedOps(t *testing.T) int {
	n := 0
	err := s.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Offline, []byte("o/"), func(k, v []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSIGKILLDuringSyncEveryOperationReachesTheServerOnce(t *testing.T) {
	bin := buildBinary(t)
	s := newServer(t)
	sh := s.shop("bakery-1")
	token := s.register(sh, "till 1")
	s.program(sh, "coffee", nil)
	const cards, stampsEach, coupons = 10, 60, 150
	var cardSerials, cardCodes []string
	for range cards {
		serial, code := s.card(sh, "coffee")
		cardSerials, cardCodes = append(cardSerials, serial), append(cardCodes, code)
	}
	minted := must(t, 201, s.url, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "cake", "valid_for": "24h", "max_uses": 1, "count": coupons})
	net := newNetwork(t, s.url)
	data := t.TempDir()
	p := startAgentProcess(t, bin, net.url(), token, data)

	net.refuse()
	total := 0
	for i := range stampsEach {
		for c := range cards {
			r := call(t, p.url, "POST", "/v1/cards/stamp", token, map[string]any{"card_code": cardCodes[c], "register": "till-1", "idempotency_key": fmt.Sprintf("stamp-%d-%d", c, i)})
			if r.status != 200 || r.str("offline") != "true" {
				t.Fatalf("offline stamp: %d %s", r.status, r.raw)
			}
			total++
		}
	}
	for i := range coupons {
		r := call(t, p.url, "POST", "/v1/redeem", token, map[string]any{"code": minted.str("coupons", fmt.Sprint(i), "code"), "register": "till-1"})
		if r.status != 200 || r.str("offline") != "true" {
			t.Fatalf("offline redeem: %d %s", r.status, r.raw)
		}
		total++
	}
	if h := call(t, p.url, "GET", "/healthz", "", nil); h.str("queue_length") != fmt.Sprint(total) {
		t.Fatalf("health before the sync: %s, want %d queued", h.raw, total)
	}

	// Answers come back late, so that the agent is killed after the server
	// took its first batch and before it heard so.
	if _, err := net.proxy.Toxics.AddToxicJson(strings.NewReader(`{"name": "slow", "type": "latency", "stream": "downstream", "attributes": {"latency": 1500}}`)); err != nil {
		t.Fatal(err)
	}
	net.restore()
	waitFor(t, "first synced batch on the server", func() bool { return s.syncedOps(t) > 0 })
	p.kill(t)
	killedAt := s.syncedOps(t)
	if err := net.proxy.Toxics.RemoveToxic(t.Context(), "slow"); err != nil {
		t.Fatal(err)
	}

	p = startAgentProcess(t, bin, net.url(), token, data)
	waitFor(t, "empty queue after the restart", func() bool {
		r, err := tryCall(p.url, "GET", "/healthz")
		return err == nil && r.str("queue_length") == "0"
	})
	if got := s.syncedOps(t); got != total {
		t.Errorf("server remembers %d synced operations, want %d", got, total)
	}
	for _, serial := range cardSerials {
		c := s.credential(sh, token, serial)
		if c.str("stamps_total") != fmt.Sprint(stampsEach) {
			t.Errorf("card %s: %s stamps in all, want %d", serial, c.str("stamps_total"), stampsEach)
		}
	}
	for i := range coupons {
		c := s.credential(sh, token, minted.str("coupons", fmt.Sprint(i), "serial"))
		if c.str("uses_left") != "0" || c.str("history", "1") != "" {
			t.Errorf("coupon %d: %s, want exactly one use", i, c.raw)
		}
	}
	metrics := call(t, p.url, "GET", "/metrics", "", nil)
	t.Logf("killed with %d of %d operations synced; restarted agent's sync counts:\n%s", killedAt, total,
		grepLines(string(metrics.raw), "stampseal_till_synced_operations_total{"))
	if strings.Contains(string(metrics.raw), `status="conflict"`) || strings.Contains(string(metrics.raw), `status="refused"`) {
		t.Errorf("resent operations were not taken as duplicates:\n%s", metrics.raw)
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
