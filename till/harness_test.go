package till_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/internal/testserver"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/till"
)

const adminToken = testserver.AdminToken

// server is the stampseal service in-process over a real bbolt file, with
// real Tink keys, built as serve builds it and served over loopback.
type server struct {
	t       testing.TB
	url     string
	monitor *fraud.Monitor
	store   storage.Backend
	issuer  *issuer.Issuer
}

func newServer(t testing.TB) *server {
	t.Helper()
	// The issuance limit is lifted: the tests mint what they need at once.
	svc := testserver.Open(t, service.Options{IssueLimit: issuer.Limit{PerSecond: 1e6, Burst: 1e9}})
	srv := httptest.NewServer(svc.Handler)
	t.Cleanup(srv.Close)
	return &server{t: t, url: srv.URL, monitor: svc.Monitor, store: svc.Store, issuer: svc.Issuer}
}

// reply is a decoded JSON answer.
type reply struct {
	status int
	raw    []byte
	body   map[string]any
}

func (r reply) str(path ...string) string { return testserver.Text(r.body, path...) }

func call(t testing.TB, base, method, path, token string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, raw: raw}
	json.Unmarshal(raw, &r.body)
	return r
}

func must(t testing.TB, want int, base, method, path, token string, body any) reply {
	t.Helper()
	r := call(t, base, method, path, token, body)
	if r.status != want {
		t.Fatalf("%s %s = %d %s; want %d", method, path, r.status, r.raw, want)
	}
	return r
}

// shop is a merchant with its keys.
type shop struct {
	id, admin, issuer, auditor string
}

func (s *server) shop(id string) shop {
	t := s.t
	t.Helper()
	must(t, 201, s.url, "POST", "/v1/merchants", adminToken, map[string]any{"id": id, "name": "Shop " + id})
	sh := shop{id: id}
	for role, dst := range map[string]*string{"admin": &sh.admin, "issuer": &sh.issuer, "auditor": &sh.auditor} {
		*dst = must(t, 201, s.url, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": id, "role": role, "name": role}).str("token")
	}
	return sh
}

// register makes a register API key named name.
func (s *server) register(sh shop, name string) string {
	return must(s.t, 201, s.url, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": sh.id, "role": "register", "name": name}).str("token")
}

func (s *server) coupon(sh shop, policy map[string]any) (serial, code string) {
	s.t.Helper()
	body := map[string]any{"merchant": sh.id, "offer": "2 croissants for 1", "valid_for": "168h", "max_uses": 1, "count": 1}
	if policy != nil {
		body["offline"] = policy
	}
	r := must(s.t, 201, s.url, "POST", "/v1/coupons", sh.issuer, body)
	return r.str("coupons", "0", "serial"), r.str("coupons", "0", "code")
}

func (s *server) program(sh shop, id string, policy map[string]any) {
	s.t.Helper()
	body := map[string]any{"merchant": sh.id, "id": id, "stamps_required": 10, "reward": "free coffee",
		"limits": map[string]int{"per_request": 0, "per_hour": 0, "per_day": 0}}
	if policy != nil {
		body["offline"] = policy
	}
	must(s.t, 201, s.url, "POST", "/v1/programs", sh.issuer, body)
}

func (s *server) card(sh shop, program string) (serial, code string) {
	r := must(s.t, 201, s.url, "POST", "/v1/cards", sh.issuer, map[string]any{"merchant": sh.id, "program": program})
	return r.str("serial"), r.str("code")
}

func (s *server) punch(sh shop, program string) (serial, code string) {
	r := must(s.t, 201, s.url, "POST", "/v1/punches", sh.issuer, map[string]any{"merchant": sh.id, "program": program, "stamps": 2})
	return r.str("serial"), r.str("code")
}

// credential is the server's status of a serial, as an auditor sees it.
func (s *server) credential(sh shop, token, serial string) reply {
	return must(s.t, 200, s.url, "GET", "/v1/credentials/"+serial, token, nil)
}

// network is a TCP proxy between an agent and the server (toxiproxy, in
// process) that can refuse connections or silently drop what is sent.
type network struct {
	t     testing.TB
	proxy *toxiproxy.Proxy
	mu    sync.Mutex
}

func newNetwork(t testing.TB, upstream string) *network {
	t.Helper()
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(api, "stampseal", "127.0.0.1:0", strings.TrimPrefix(upstream, "http://"))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &network{t: t, proxy: p}
}

func (n *network) url() string { return "http://" + n.proxy.Listen }

// refuse closes the proxy's listener and every connection through it:
// the agent's connections are refused.
func (n *network) refuse() { n.proxy.Stop() }

// restore listens again on the same address.
func (n *network) restore() {
	n.t.Helper()
	if err := n.proxy.Start(); err != nil {
		n.t.Fatal(err)
	}
}

// drop lets connections open but carries nothing in either direction: the
// agent's requests time out.
func (n *network) drop() {
	n.t.Helper()
	for _, dir := range []string{"upstream", "downstream"} {
		_, err := n.proxy.Toxics.AddToxicJson(strings.NewReader(`{"name": "drop_` + dir + `", "type": "timeout", "stream": "` + dir + `", "attributes": {"timeout": 0}}`))
		if err != nil {
			n.t.Fatal(err)
		}
	}
}

// heal removes drop's toxics.
func (n *network) heal() {
	n.t.Helper()
	for _, dir := range []string{"upstream", "downstream"} {
		if err := n.proxy.Toxics.RemoveToxic(context.Background(), "drop_"+dir); err != nil {
			n.t.Fatal(err)
		}
	}
}

// clock is a settable clock for agents.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		return time.Now()
	}
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// agent is a till agent in-process, served over loopback.
type agent struct {
	*till.Agent
	url   string
	token string
}

func newAgent(t testing.TB, upstream, token string, now func() time.Time) *agent {
	t.Helper()
	a, err := till.Open(till.Config{Upstream: upstream, Token: token, DataDir: t.TempDir(), Timeout: 500 * time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatalf("first snapshot: %v", err)
	}
	return &agent{Agent: a, url: srv.URL, token: token}
}

func (a *agent) do(t testing.TB, path string, body any) reply {
	t.Helper()
	return call(t, a.url, "POST", path, a.token, body)
}
