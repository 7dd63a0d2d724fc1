package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/api"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/openapicheck"
	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/internal/testserver"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

const adminToken = testserver.AdminToken

// server is the whole service in-process, built as serve builds it (a real
// bbolt file, real Tink keys, the real router), served over loopback by
// httptest.
type server struct {
	t      testing.TB
	url    string
	path   string
	master string
	svc    *service.Service
	store  storage.Backend
	srv    *httptest.Server
	fraud  *fraud.Monitor
	ring   *keys.Ring
	access *access.Service
	short  api.ShortCodes
	client *http.Client

	maxInFlight int              // 0: the API's default
	clock       func() time.Time // nil: time.Now; e.g. a clock for holds and voids
}

func newServer(t testing.TB, opts ...func(*server)) *server {
	t.Helper()
	s := &server{t: t, path: filepath.Join(t.TempDir(), "stampseal.db"), client: &http.Client{}}
	for _, o := range opts {
		o(s)
	}
	s.master = testserver.NewMasterKey(t)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.svc = testserver.OpenAt(s.t, s.path, s.master, service.Options{MaxInFlight: s.maxInFlight, Clock: s.clock})
	s.store, s.fraud, s.ring, s.access, s.short = s.svc.Store, s.svc.Monitor, s.svc.Ring, s.svc.Access, s.svc.Short
	// Every answer of every API test is checked against api/openapi.yaml.
	s.srv = httptest.NewServer(openapicheck.MustLoad(s.t).Handler(s.t, s.svc.Handler))
	s.url = s.srv.URL
}

func (s *server) stop() {
	if s.srv != nil {
		s.srv.Close()
		s.svc.Close()
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

func (a answer) str(path ...string) string { return testserver.Text(a.body, path...) }

func (a answer) get(path ...string) any { return testserver.Walk(a.body, path...) }

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
