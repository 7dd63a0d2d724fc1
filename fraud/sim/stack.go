package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"time"

	"github.com/stampseal/stampseal/fraud"
	stampseal "github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/issuer"

	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// Clock is the simulated time every part of the service reads.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t; it never goes back.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
}

// adminToken is the all-merchants admin key of the simulated service.
const adminToken = "simulator-admin-token-0123456789abcdef"

// service is the real stampseal (API, verifier, issuer, fraud monitor,
// bbolt ledger), built as serve builds it, on a simulated clock, called
// in-process through its HTTP handler.
type service struct {
	whole   *stampseal.Service
	issuer  *issuer.Issuer
	monitor *fraud.Monitor
	handler http.Handler
	clock   *Clock
}

func openService(dir string, clock *Clock) (*service, error) {
	store, err := storage.OpenBolt(filepath.Join(dir, "stampseal.db"))
	if err != nil {
		return nil, err
	}
	text, err := keys.NewMasterKeyText()
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	master, err := keys.ParseMasterKey(text)
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	svc, err := stampseal.Open(stampseal.Options{Store: store, Master: master, Clock: clock.Now,
		IssueLimit: issuer.Limit{PerSecond: 1000, Burst: 100000}})
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	if _, err := svc.Access.Bootstrap(adminToken); err != nil {
		return nil, errors.Join(err, svc.Close())
	}
	return &service{whole: svc, issuer: svc.Issuer, monitor: svc.Monitor, handler: svc.Handler, clock: clock}, nil
}

func (s *service) close() error { return s.whole.Close() }

// answer is one HTTP answer, decoded.
type answer struct {
	status int
	body   map[string]any
}

func (a answer) str(key string) string {
	v, _ := a.body[key].(string)
	return v
}

// call sends one request through the real handler, from address source.
func (s *service) call(method, path, token, source string, body any) answer {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(raw))
	req.RemoteAddr = source + ":40000"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	a := answer{status: rec.Code}
	json.Unmarshal(rec.Body.Bytes(), &a.body)
	return a
}

// must is call that fails unless the status is want.
func (s *service) must(want int, method, path, token string, body any) (answer, error) {
	a := s.call(method, path, token, "127.0.0.1", body)
	if a.status != want {
		return a, fmt.Errorf("%s %s = %d %v; want %d", method, path, a.status, a.body, want)
	}
	return a, nil
}
