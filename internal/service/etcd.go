package service

import (
	"github.com/stampseal/stampseal/storage/etcdstore"
)

// instrumentEtcd gives the API a health check and the metrics a view of the
// transactions when the ledger is on etcd; over bbolt it changes nothing.
func (s *Service) instrumentEtcd(store any) {
	e, ok := store.(*etcdstore.Store)
	if !ok {
		return
	}
	s.API.Health = e.Ping
	m := s.Metrics.NewEtcd()
	e.Observe(etcdstore.Observer{Txn: m.Txn, Carried: m.Carried, Conflict: m.Conflict})
	m.Watch(e.WatchRestarts)
	if e.Mirrors() {
		m.Mirror(func() float64 { return float64(e.MirrorKeys()) }, func() float64 { return float64(e.MirrorServed()) })
	}
}
