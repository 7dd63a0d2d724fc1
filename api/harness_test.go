package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/api"
	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/openapicheck"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/metrics"
	"github.com/stampseal/stampseal/offline"
	"github.com/stampseal/stampseal/report"
	"github.com/stampseal/stampseal/shortcode"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

const adminToken = "test-admin-token-0123456789"

// server is the whole service in-process: a real bbolt file, real Tink
// keys, the real router, served over loopback by httptest.
type server struct {
	t      testing.TB
	url    string
	path   string
	master string
	store  *storage.Bolt
	srv    *httptest.Server
	fraud  *fraud.Monitor
	ring   *keys.Ring
	access *access.Service
	short  api.ShortCodes
	client *http.Client

	maxInFlight int             // 0: the API's default
	verifyOpts  []verify.Option // e.g. a clock for holds and voids
}

func newServer(t testing.TB, opts ...func(*server)) *server {
	t.Helper()
	s := &server{t: t, path: filepath.Join(t.TempDir(), "stampseal.db"), client: &http.Client{}}
	for _, o := range opts {
		o(s)
	}
	s.master, _ = keys.NewMasterKeyText()
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	st := newStack(s.t, s.path, s.master, s.verifyOpts...)
	st.deps.MaxInFlight = s.maxInFlight
	s.store, s.fraud, s.ring, s.access, s.short = st.store, st.monitor, st.ring, st.deps.Access, st.deps.Short
	// Every answer of every API test is checked against api/openapi.yaml.
	s.srv = httptest.NewServer(openapicheck.MustLoad(s.t).Handler(s.t, api.New(st.deps)))
	s.url = s.srv.URL
}

// stack is the service's parts over one bbolt file, wired as serve wires
// them, with the bootstrap admin key adminToken.
type stack struct {
	store   *storage.Bolt
	ring    *keys.Ring
	monitor *fraud.Monitor
	deps    api.Deps
}

func newStack(t testing.TB, path, masterText string, opts ...verify.Option) *stack {
	t.Helper()
	store, err := storage.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	master, err := keys.ParseMasterKey(masterText)
	if err != nil {
		t.Fatal(err)
	}
	ring := keys.NewRing(store, master)
	secret, err := ring.Secret("short-codes")
	if err != nil {
		t.Fatal(err)
	}
	short, _ := shortcode.NewKeyed(secret)
	monitor := fraud.New(store, fraud.DefaultConfig())
	book, err := report.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	events := observers{monitor, book}
	iss := issuer.New(store, ring, issuer.WithShortCodes(short))
	ver, err := verify.New(store, ring, append([]verify.Option{verify.WithRewards(iss), verify.WithShortCodes(short), verify.WithObserver(events)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	acc := access.New(store, ring)
	if _, err := acc.Bootstrap(adminToken); err != nil {
		t.Fatal(err)
	}
	return &stack{store: store, ring: ring, monitor: monitor, deps: api.Deps{Access: acc, Keys: ring, Issuer: iss, Verifier: ver,
		Store: store, Throttle: monitor, Observer: events, Review: monitor, Detect: monitor, Report: book, Barcodes: barcode.NewCache(8 << 20), Short: short,
		Metrics: metrics.New(), Offline: offline.NewService(store, ring, ver, monitor), Policies: offline.NewPolicies(store)}}
}

// observers hands every event to each of its members, as serve does.
type observers []verify.Observer

func (o observers) Observe(ev fraud.Event) {
	for _, m := range o {
		m.Observe(ev)
	}
}

func (s *server) stop() {
	if s.srv != nil {
		s.srv.Close()
		s.fraud.Flush()
		s.store.Close()
		s.srv = nil
	}
}

// restart closes the database and opens it again behind a new server.
func (s *server) restart() {
	s.stop()
	s.start()
}

// answer is a decoded JSON answer.
type answer struct {
	status int
	body   map[string]any
	raw    []byte
	header http.Header
}

func (a answer) str(path ...string) string {
	v := a.get(path...)
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func (a answer) get(path ...string) any {
	var v any = a.body
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func (s *server) do(method, path, token string, body any) answer {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: raw, header: resp.Header}
	json.Unmarshal(raw, &a.body)
	// Overload is an honest answer; any other 5xx is a defect.
	if a.status >= 500 && a.str("error", "code") != "overloaded" {
		s.t.Errorf("%s %s answered %d: %s", method, path, a.status, raw)
	}
	return a
}

// must calls do and fails the test unless the status is want.
func (s *server) must(want int, method, path, token string, body any) answer {
	s.t.Helper()
	a := s.do(method, path, token, body)
	if a.status != want {
		s.t.Fatalf("%s %s = %d %s; want %d", method, path, a.status, a.raw, want)
	}
	return a
}

// shop is a merchant with one key of each role.
type shop struct {
	id                               string
	admin, issuer, register, auditor string
}

func (s *server) shop(id string) shop {
	s.t.Helper()
	s.must(201, "POST", "/v1/merchants", adminToken, map[string]any{"id": id, "name": "Shop " + id})
	sh := shop{id: id}
	for role, dst := range map[string]*string{"admin": &sh.admin, "issuer": &sh.issuer, "register": &sh.register, "auditor": &sh.auditor} {
		a := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": id, "role": role, "name": role + " of " + id})
		*dst = a.str("token")
	}
	return sh
}

func (s *server) coupon(sh shop, maxUses int) (serial, code string) {
	s.t.Helper()
	a := s.must(201, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "2 croissants for 1", "valid_for": "168h", "max_uses": maxUses, "count": 1})
	return a.str("coupons", "0", "serial"), a.str("coupons", "0", "code")
}
