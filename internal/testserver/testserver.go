// Package testserver runs the whole stampseal service in-process for tests
// of packages that talk to it over HTTP: a real bbolt file in a temporary
// directory, real Tink keysets, short codes, the fraud monitor, metrics,
// the API with the review page, served on loopback by httptest, every
// answer checked against api/openapi.yaml.
package testserver

import (
	"log/slog"
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
	"github.com/stampseal/stampseal/shortcode"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
	"github.com/stampseal/stampseal/web"
)

// AdminToken is the all-merchants admin key every test server starts with.
const AdminToken = "testserver-admin-token-0123456789"

// Server is one running service.
type Server struct {
	URL      string
	Store    *storage.Bolt
	Monitor  *fraud.Monitor
	Verifier *verify.Verifier
	Handler  http.Handler // the API with the review page mounted
	http     *httptest.Server
}

// Option changes a server before it starts.
type Option func(*api.Deps)

// Start runs a server until the test ends. Every answer it gives is
// checked against api/openapi.yaml; a mismatch fails t.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	store, err := storage.OpenBolt(filepath.Join(t.TempDir(), "stampseal.db"))
	if err != nil {
		t.Fatalf("testserver: open bolt: %v", err)
	}
	text, err := keys.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	master, err := keys.ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	ring := keys.NewRing(store, master)
	secret, err := ring.Secret("short-codes")
	if err != nil {
		t.Fatal(err)
	}
	short, err := shortcode.NewKeyed(secret)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	monitor := fraud.New(store, fraud.DefaultConfig(), fraud.WithLogger(log))
	iss := issuer.New(store, ring, issuer.WithShortCodes(short))
	ver, err := verify.New(store, ring, verify.WithRewards(iss), verify.WithShortCodes(short), verify.WithObserver(monitor))
	if err != nil {
		t.Fatal(err)
	}
	acc := access.New(store, ring)
	if _, err := acc.Bootstrap(AdminToken); err != nil {
		t.Fatal(err)
	}
	d := api.Deps{Access: acc, Keys: ring, Issuer: iss, Verifier: ver, Store: store, Throttle: monitor,
		Observer: monitor, Review: monitor, Detect: monitor, Barcodes: barcode.NewCache(8 << 20), Short: short, Metrics: metrics.New(), Log: log,
		Offline: offline.NewService(store, ring, ver, monitor), Policies: offline.NewPolicies(store)}
	for _, o := range opts {
		o(&d)
	}
	a := api.New(d)
	web.New(web.Deps{Access: acc, Fraud: monitor, Verifier: ver, Log: log}).Mount(a.Router())
	s := &Server{Store: store, Monitor: monitor, Verifier: ver, Handler: a}
	s.http = httptest.NewServer(openapicheck.MustLoad(t).Handler(t, a))
	s.URL = s.http.URL
	t.Cleanup(func() {
		s.http.Close()
		monitor.Flush()
		store.Close()
	})
	return s
}
