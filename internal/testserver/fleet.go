package testserver

import (
	"net/http/httptest"
	"testing"

	"github.com/stampseal/stampseal/internal/openapicheck"
	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// Fleet is several stampseal nodes, each a whole service with its own
// caches, fraud monitor and HTTP server, over one shared ledger, as nodes
// behind a load balancer share one etcd cluster.
type Fleet struct {
	Nodes []*Server
}

// StartFleet runs one node over each store, all handles on one shared
// ledger (each node closes its own), until the test ends. The nodes share
// the master key, as the nodes of one deployment do.
func StartFleet(t testing.TB, stores []storage.Shared, opts ...Option) *Fleet {
	t.Helper()
	master, err := keys.ParseMasterKey(NewMasterKey(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &Fleet{}
	for _, store := range stores {
		var o service.Options
		for _, opt := range opts {
			opt(&o)
		}
		o.Store, o.Master = store, master
		svc, err := service.Open(o)
		if err != nil {
			t.Fatalf("testserver: node %d: %v", len(f.Nodes), err)
		}
		t.Cleanup(func() { svc.Close() })
		if _, err := svc.Access.Bootstrap(AdminToken); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(openapicheck.MustLoad(t).Handler(t, svc.Handler))
		t.Cleanup(srv.Close) // before the service closes: cleanups run last first
		f.Nodes = append(f.Nodes, &Server{Service: svc, URL: srv.URL})
	}
	return f
}
