package testserver_test

import (
	"testing"

	"github.com/stampseal/stampseal/internal/etcdtest"
	"github.com/stampseal/stampseal/internal/testserver"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/storage/etcdstore"
)

// TestFleetOnEtcd runs the fleet's scenarios on 3 stampseal nodes over an
// embedded 3-member etcd cluster, each node a client of another member.
func TestFleetOnEtcd(t *testing.T) {
	c := etcdtest.New(t)
	prefix := c.Prefix(t)
	var stores []storage.Shared
	for i := range 3 {
		s, err := etcdstore.Open(etcdstore.Config{Endpoints: []string{c.Endpoint(i)}, Prefix: prefix})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		stores = append(stores, s) // closed by its node
	}
	f := testserver.StartFleet(t, stores)
	fleetCases(t, f)
}
