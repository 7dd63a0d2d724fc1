// Package testserver runs the whole stampseal service in-process for
// tests, built by internal/service as serve builds it: a real bbolt file
// in a temporary directory, real Tink keysets, short codes, the fraud
// monitor, the owner's figures, metrics, the API with the review pages.
package testserver

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stampseal/stampseal/internal/openapicheck"
	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// AdminToken is the all-merchants admin key every test service starts
// with.
const AdminToken = "testserver-admin-token-0123456789"

// Open builds the service over a new bbolt file in t.TempDir() and a new
// master key, with the admin key AdminToken. It is closed when the test
// ends. o's Store and Master are filled in.
func Open(t testing.TB, o service.Options) *service.Service {
	t.Helper()
	svc := OpenAt(t, filepath.Join(t.TempDir(), "stampseal.db"), NewMasterKey(t), o)
	t.Cleanup(func() { svc.Close() })
	return svc
}

// OpenAt builds the service over the bbolt file at path (created if
// missing) and the master key masterText, with the admin key AdminToken.
// Closing it is the caller's: a test that restarts the service opens the
// same path again.
func OpenAt(t testing.TB, path, masterText string, o service.Options) *service.Service {
	t.Helper()
	store, err := storage.OpenBolt(path)
	if err != nil {
		t.Fatalf("testserver: open bolt: %v", err)
	}
	if o.Master, err = keys.ParseMasterKey(masterText); err != nil {
		t.Fatal(err)
	}
	o.Store = store
	svc, err := service.Open(o)
	if err != nil {
		store.Close()
		t.Fatalf("testserver: %v", err)
	}
	if _, err := svc.Access.Bootstrap(AdminToken); err != nil {
		svc.Close()
		t.Fatal(err)
	}
	return svc
}

// NewMasterKey is a new master key, as text.
func NewMasterKey(t testing.TB) string {
	t.Helper()
	text, err := keys.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// Server is one running service, served on loopback.
type Server struct {
	*service.Service
	URL string
}

// Option changes a server's options before it starts.
type Option func(*service.Options)

// Start runs a server until the test ends. Every answer it gives is
// checked against api/openapi.yaml; a mismatch fails t.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o service.Options
	for _, opt := range opts {
		opt(&o)
	}
	svc := Open(t, o)
	srv := httptest.NewServer(openapicheck.MustLoad(t).Handler(t, svc.Handler))
	t.Cleanup(srv.Close) // before the service closes: cleanups run last first
	return &Server{Service: svc, URL: srv.URL}
}
