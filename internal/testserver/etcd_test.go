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
	t.Run("100 redemptions of a coupon of max_uses 1 over 3 nodes", func(t *testing.T) { raceForOneCoupon(t, f, 1) })
	t.Run("100 redemptions of a coupon of max_uses 3 over 3 nodes", func(t *testing.T) { raceForOneCoupon(t, f, 3) })
	t.Run("one card stamped through 3 nodes at once", func(t *testing.T) { stampOneCardEverywhere(t, f, 95) })
	t.Run("a block, a compromised key and a revoked API key reach every node", func(t *testing.T) { changesReachEveryNode(t, f) })
	t.Run("one card at two nodes is one copied-card alert", func(t *testing.T) { oneCardAtTwoNodes(t, f) })
	t.Run("the owner's figures count every node's work", func(t *testing.T) { figuresCountEveryNode(t, f) })
	t.Run("shops placed on one node are known to every node's detectors", func(t *testing.T) { shopsReachEveryNode(t, f) })
}
