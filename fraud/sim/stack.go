package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/api"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/shortcode"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
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
// bbolt ledger) on a simulated clock, called in-process through its HTTP
// handler.
type service struct {
	store   *storage.Bolt
	monitor *fraud.Monitor
	issuer  *issuer.Issuer
	ring    *keys.Ring
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
		return nil, err
	}
	master, err := keys.ParseMasterKey(text)
	if err != nil {
		return nil, err
	}
	ring := keys.NewRing(store, master)
	secret, err := ring.Secret("short-codes")
	if err != nil {
		return nil, err
	}
	short, err := shortcode.NewKeyed(secret)
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	monitor := fraud.New(store, fraud.DefaultConfig(), fraud.WithLogger(log), fraud.WithClock(clock.Now))
	iss := issuer.New(store, ring, issuer.WithShortCodes(short), issuer.WithClock(clock.Now))
	ver, err := verify.New(store, ring, verify.WithRewards(iss), verify.WithShortCodes(short), verify.WithObserver(monitor), verify.WithClock(clock.Now))
	if err != nil {
		return nil, err
	}
	acc := access.New(store, ring)
	if _, err := acc.Bootstrap(adminToken); err != nil {
		return nil, err
	}
	a := api.New(api.Deps{Access: acc, Keys: ring, Issuer: iss, Verifier: ver, Store: store, Throttle: monitor,
		Observer: monitor, Review: monitor, Detect: monitor, Short: short, Log: log, Now: clock.Now,
		IssueLimit: api.IssueLimit{PerSecond: 1000, Burst: 100000}})
	return &service{store: store, monitor: monitor, issuer: iss, ring: ring, handler: a, clock: clock}, nil
}

func (s *service) close() error {
	s.monitor.Flush()
	return s.store.Close()
}

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
