// Package etcdtest starts a real etcd cluster inside a test binary: its
// members are embedded etcd servers (go.etcd.io/etcd/server/v3/embed) on
// loopback ports, their data in a directory of the test's. Start one per
// test binary in TestMain where the tests can share it (each test takes a
// prefix of its own with Prefix), or one per test with New.
package etcdtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Options shape a cluster.
type Options struct {
	// Size is the number of members; 3 when 0.
	Size int
	// Durable makes members fsync their log as a production etcd does (for
	// benchmarks); tests run without fsync, which is faster and loses
	// nothing unless the machine itself dies.
	Durable bool
	// MaxTxnOps is the members' --max-txn-ops; 0: etcd's default (128).
	MaxTxnOps uint
}

// Cluster is a running embedded etcd cluster.
type Cluster struct {
	dir     string
	members []*member
	prefix  atomic.Int64
}

type member struct {
	mu   sync.Mutex
	cfg  *embed.Config
	etcd *embed.Etcd // nil while stopped
}

// New starts a 3-member cluster for one test, under t.TempDir(), stopped
// when the test ends.
func New(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := Start(tb.TempDir(), Options{})
	if err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// Start starts a cluster with its data under dir and waits until it has a
// leader and every member serves clients.
func Start(dir string, o Options) (*Cluster, error) {
	if o.Size == 0 {
		o.Size = 3
	}
	ports, err := freePorts(2 * o.Size)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	var initial []string
	for i := range o.Size {
		name := fmt.Sprintf("m%d", i)
		initial = append(initial, fmt.Sprintf("%s=http://127.0.0.1:%d", name, ports[2*i+1]))
	}
	for i := range o.Size {
		name := fmt.Sprintf("m%d", i)
		cfg := embed.NewConfig()
		cfg.Name = name
		cfg.Dir = filepath.Join(dir, name)
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])}
		peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = filepath.Base(dir)
		cfg.ClusterState = embed.ClusterStateFlagNew
		// Short heartbeats: a new cluster elects its leader in well under
		// a second, and a stopped leader is replaced as quickly.
		cfg.TickMs, cfg.ElectionMs = 50, 500
		cfg.UnsafeNoFsync = !o.Durable
		if o.MaxTxnOps > 0 {
			cfg.MaxTxnOps = o.MaxTxnOps
		}
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{filepath.Join(dir, name+".log")}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		c.members = append(c.members, &member{cfg: cfg})
	}
	// The members of a new cluster wait for each other: start them all,
	// then wait for each.
	errs := make([]error, len(c.members))
	var wg sync.WaitGroup
	for i, m := range c.members {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = m.start() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (m *member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil {
		return nil
	}
	e, err := embed.StartEtcd(m.cfg)
	if err != nil {
		return fmt.Errorf("etcd member %s: %w", m.cfg.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcd member %s: %w", m.cfg.Name, err)
	case <-time.After(60 * time.Second):
		e.Close()
		return fmt.Errorf("etcd member %s: not ready after a minute", m.cfg.Name)
	}
	m.etcd = e
	return nil
}

func (m *member) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil {
		m.etcd.Close()
		m.etcd = nil
	}
}

// Size is the number of members.
func (c *Cluster) Size() int { return len(c.members) }

// Endpoint is member i's client URL (it stays the same across restarts).
func (c *Cluster) Endpoint(i int) string { return c.members[i].cfg.AdvertiseClientUrls[0].String() }

// Endpoints are the client URLs of all members.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for i := range c.members {
		eps = append(eps, c.Endpoint(i))
	}
	return eps
}

// Stop stops member i (its data stays); stopping a stopped member does nothing.
func (c *Cluster) Stop(i int) { c.members[i].stop() }

// Restart starts a stopped member i again on its data and ports and waits
// until it serves (which needs a quorum of members running).
func (c *Cluster) Restart(i int) error {
	c.members[i].cfg.ClusterState = embed.ClusterStateFlagExisting
	return c.members[i].start()
}

// Close stops every member.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		wg.Add(1)
		go func() { defer wg.Done(); m.stop() }()
	}
	wg.Wait()
}

// Prefix returns a key prefix no other caller of this cluster gets, so
// that tests sharing one cluster do not see each other's keys.
func (c *Cluster) Prefix(tb testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	return fmt.Sprintf("/test/%s-%d", name, c.prefix.Add(1))
}

// Client returns a client of all members, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatalf("etcd client: %v", err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// freePorts finds n loopback ports nobody listens on now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
