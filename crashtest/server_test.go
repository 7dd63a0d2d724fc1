package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
)

// bootstrapToken is the admin key every test server starts with.
const bootstrapToken = "crashtest-bootstrap-token-0123456789"

// binary is the stampseal binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stampseal-crashtest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crashtest:", err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "stampseal")
	build := exec.Command("go", "build", "-o", binary, "github.com/stampseal/stampseal/cmd/stampseal")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "crashtest: go build ./cmd/stampseal:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running stampseal process.
type server struct {
	t    testing.TB
	data string
	base string // http://127.0.0.1:port
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

// crashRounds is how many kill-and-restart rounds a crash test runs: 3,
// or $STAMPSEAL_CRASH_ROUNDS for a longer soak.
func crashRounds(t testing.TB) int {
	v := os.Getenv("STAMPSEAL_CRASH_ROUNDS")
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("STAMPSEAL_CRASH_ROUNDS=%q: want a positive number", v)
	}
	return n
}

// startServer runs the binary on data (created if missing) on a free
// loopback port and waits for /healthz. Its output goes to data+".log".
func startServer(t testing.TB, data string) *server {
	t.Helper()
	return startServerLog(t, data, filepath.Clean(data)+".log")
}

// startServerLog is startServer with the output appended to logPath and
// further serve flags.
func startServerLog(t testing.TB, data, logPath string, flags ...string) *server {
	t.Helper()
	for attempt := 0; ; attempt++ {
		s, err := tryStart(t, data, logPath, flags...)
		if err == nil {
			t.Cleanup(s.stop)
			return s
		}
		// A port taken between picking and listening is worth a retry.
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			continue
		}
		t.Fatalf("start stampseal on %s: %v", data, err)
	}
}

func tryStart(t testing.TB, data, logPath string, flags ...string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "--- start %s on %s\n", time.Now().Format(time.RFC3339Nano), addr)
	cmd := exec.Command(binary, append([]string{"serve", "--addr", addr, "--data", data, "--log-level", "warn"}, flags...)...)
	cmd.Env = append(os.Environ(), "STAMPSEAL_BOOTSTRAP_TOKEN="+bootstrapToken)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{t: t, data: data, base: "http://" + addr, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return nil, fmt.Errorf("stampseal exited before /healthz answered (%v); log:\n%s", s.err, s.logTail())
		default:
		}
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	return nil, fmt.Errorf("/healthz did not answer 200 within 30s; log:\n%s", s.logTail())
}

// kill ends the process with SIGKILL and waits for it.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// stop ends the process with SIGTERM (SIGKILL after 20s) and closes the log.
func (s *server) stop() {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			s.t.Errorf("stampseal did not stop on SIGTERM within 20s; killing it")
			s.kill()
		}
	}
	s.log.Close()
}

// exited reports whether the process is gone.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// logTail is the end of the server's log, for failure messages.
func (s *server) logTail() string {
	raw, _ := os.ReadFile(s.log.Name())
	if len(raw) > 4000 {
		raw = raw[len(raw)-4000:]
	}
	return string(raw)
}

// client is a keep-alive HTTP client sized for n concurrent callers.
func newClient(n int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        n,
			MaxIdleConnsPerHost: n,
			IdleConnTimeout:     90 * time.Second,
		},
	}
}

// answer is a decoded JSON answer.
type answer struct {
	status int
	raw    []byte
}

func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.raw, v); err != nil {
		t.Fatalf("decode %s: %v", a.raw, err)
	}
}

// errCode is the error.code of an error answer, or "".
func (a answer) errCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(a.raw, &e)
	return e.Error.Code
}

// call sends one request; err is a transport failure (no answer).
func call(ctx context.Context, c *http.Client, method, url, token string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return answer{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		// The status arrived but not the whole body: no usable answer.
		return answer{}, fmt.Errorf("read answer: %w", err)
	}
	return answer{status: resp.StatusCode, raw: raw}, nil
}

// must sends a request that has to answer want.
func (s *server) must(c *http.Client, want int, method, path, token string, body any) answer {
	s.t.Helper()
	a, err := call(context.Background(), c, method, s.base+path, token, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v\nserver log:\n%s", method, path, err, s.logTail())
	}
	if a.status != want {
		s.t.Fatalf("%s %s = %d %s; want %d", method, path, a.status, a.raw, want)
	}
	return a
}

// issued is a credential as the issuing routes return it.
type issued = client.Credential

// shop is a merchant set up for a test: an issuer key, register keys and a
// stamp-card program without limits.
type shop struct {
	merchant  string
	issuer    string
	registers []string
	program   string
}

// api is the typed client of s as key token, over c.
func (s *server) api(t testing.TB, c *http.Client, token string) *client.Client {
	t.Helper()
	api, err := client.New(s.base, client.WithToken(token), client.WithHTTPClient(c))
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// fatal fails t with err and the server's log.
func (s *server) fatal(t testing.TB, what string, err error) {
	t.Helper()
	t.Fatalf("%s: %v\nserver log:\n%s", what, err, s.logTail())
}

func setupShop(t testing.TB, s *server, c *http.Client, merchant string, registers int) shop {
	t.Helper()
	ctx := context.Background()
	if _, err := s.api(t, c, bootstrapToken).CreateMerchant(ctx, merchant, "Crash Bakery"); err != nil {
		s.fatal(t, "create merchant", err)
	}
	key := func(role, name string) string { return apiKey(t, s, c, merchant, role, name) }
	sh := shop{merchant: merchant, issuer: key(client.RoleIssuer, "pos"), program: "coffee"}
	for i := range registers {
		sh.registers = append(sh.registers, key(client.RoleRegister, fmt.Sprintf("till %d", i+1)))
	}
	if _, err := s.api(t, c, sh.issuer).CreateProgram(ctx, client.Program{Merchant: merchant, ID: sh.program, StampsRequired: 10,
		Reward: "free coffee", RewardValidFor: client.Duration(720 * time.Hour), Limits: &client.Limits{}}); err != nil {
		s.fatal(t, "create program", err)
	}
	return sh
}

// apiKey creates an API key and returns its token.
func apiKey(t testing.TB, s *server, c *http.Client, merchant, role, name string) string {
	t.Helper()
	k, err := s.api(t, c, bootstrapToken).CreateAPIKey(context.Background(), client.APIKeyRequest{Merchant: merchant, Role: role, Name: name})
	if err != nil {
		s.fatal(t, "create "+role+" key", err)
	}
	if k.Token == "" {
		t.Fatalf("apikey answer for %s has no token", role)
	}
	return k.Token
}

func (sh shop) coupons(t testing.TB, s *server, c *http.Client, maxUses, count int) []issued {
	t.Helper()
	out, err := s.api(t, c, sh.issuer).IssueCoupons(context.Background(), client.CouponRequest{Merchant: sh.merchant,
		Offer: "2 croissants for 1", ValidFor: client.Duration(168 * time.Hour), MaxUses: maxUses, Count: count})
	if err != nil {
		s.fatal(t, "issue coupons", err)
	}
	if len(out.Coupons) != count {
		t.Fatalf("minted %d coupons, want %d", len(out.Coupons), count)
	}
	return out.Coupons
}

func (sh shop) card(t testing.TB, s *server, c *http.Client) issued {
	t.Helper()
	out, err := s.api(t, c, sh.issuer).IssueCard(context.Background(), sh.merchant, sh.program)
	if err != nil {
		s.fatal(t, "issue card", err)
	}
	return out
}

// ledgerEntry is what GET /v1/credentials/{serial} tells of a credential.
type ledgerEntry struct {
	Serial      string `json:"serial"`
	Kind        string `json:"kind"`
	Status      string `json:"status"`
	UsesLeft    int    `json:"uses_left"`
	Stamps      *int   `json:"stamps"`
	StampsTotal int    `json:"stamps_total"`
	History     []struct {
		Op       string `json:"op"`
		Register string `json:"register"`
		Stamps   int    `json:"stamps"`
		ID       string `json:"id"`    // redemption_id, stamp_id or reservation_id
		Voids    string `json:"voids"` // for a void: the id it voids
	} `json:"history"`
}

// ledger reads many credentials concurrently.
func (s *server) ledger(t testing.TB, c *http.Client, token string, serials []string) map[string]ledgerEntry {
	t.Helper()
	out := make(map[string]ledgerEntry, len(serials))
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	work := make(chan string)
	for range 16 {
		wg.Go(func() {
			for serial := range work {
				a, err := call(context.Background(), c, "GET", s.base+"/v1/credentials/"+serial, token, nil)
				if err == nil && a.status != 200 {
					err = fmt.Errorf("GET /v1/credentials/%s = %d %s", serial, a.status, a.raw)
				}
				var e ledgerEntry
				if err == nil {
					err = json.Unmarshal(a.raw, &e)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[serial] = e
				mu.Unlock()
			}
		})
	}
	for _, serial := range serials {
		work <- serial
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("read ledger: %v", firstErr)
	}
	return out
}
