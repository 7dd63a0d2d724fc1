package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/storage/etcdstore"
	"github.com/stampseal/stampseal/verify"
)

// etcdFlags choose an etcd cluster as the ledger instead of the bbolt file.
type etcdFlags struct {
	endpoints string
	prefix    string
	mirror    int
	inFlight  int
}

func (e *etcdFlags) register(fs *flag.FlagSet, endpointsFlag string) {
	fs.StringVar(&e.endpoints, endpointsFlag, "", "etcd client URLs, comma-separated (http://10.0.0.1:2379,...): keep the ledger in that cluster instead of <data>/stampseal.db; every node on one cluster and prefix shares it")
	fs.StringVar(&e.prefix, "etcd-prefix", etcdstore.DefaultPrefix, "key prefix of the ledger in etcd (one cluster can hold several ledgers)")
}

// registerNode adds what only a serving node sets: its mirror's size and
// how many Txns it keeps in flight.
func (e *etcdFlags) registerNode(fs *flag.FlagSet) {
	fs.IntVar(&e.mirror, "etcd-mirror", etcdstore.DefaultMirror, "how many issuance records and trails this node keeps a watched copy of, so that redeeming a recent credential sends one etcd transaction and no read (0: none)")
	fs.IntVar(&e.inFlight, "etcd-in-flight", etcdstore.DefaultInFlight, "how many etcd transactions of writes this node keeps in flight; writes that become ready meanwhile share the next transaction where they touch no common key, so that under load a redemption costs a fraction of one (0: each write its own transaction, sent at once)")
}

// config checks the flags: every endpoint a URL with a host.
func (e *etcdFlags) config(endpointsFlag string) (etcdstore.Config, error) {
	var eps []string
	for _, ep := range strings.Split(e.endpoints, ",") {
		ep = strings.TrimSpace(ep)
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return etcdstore.Config{}, fmt.Errorf("--%s %q: want client URLs such as http://127.0.0.1:2379, comma-separated", endpointsFlag, ep)
		}
		eps = append(eps, ep)
	}
	if !strings.HasPrefix(e.prefix, "/") || strings.Trim(e.prefix, "/") == "" {
		return etcdstore.Config{}, fmt.Errorf("--etcd-prefix %q: want a path such as /stampseal", e.prefix)
	}
	mirror, inFlight := e.mirror, e.inFlight
	if mirror == 0 {
		mirror = -1 // a tool, or --etcd-mirror 0: no copy
	}
	if inFlight == 0 {
		inFlight = -1 // a tool, or --etcd-in-flight 0: one Txn per write
	}
	return etcdstore.Config{Endpoints: eps, Prefix: e.prefix, Mirror: mirror, InFlight: inFlight}, nil
}

// openStore opens the ledger: in etcd when --etcd-endpoints is set, else
// the bbolt file in --data. On etcd the master key must be given (file or
// environment, or an existing <data>/master.key): the nodes of a fleet
// share one, so none may generate its own.
func (e *etcdFlags) openStore(d *dataFlags, stderr io.Writer) (storage.Backend, tink.AEAD, error) {
	if e.endpoints == "" {
		return d.openStore(stderr)
	}
	cfg, err := e.config("etcd-endpoints")
	if err != nil {
		return nil, nil, err
	}
	if d.data == "" {
		return nil, nil, errors.New("--data must not be empty")
	}
	if err := os.MkdirAll(d.data, 0o700); err != nil { // the bootstrap token's place
		return nil, nil, fmt.Errorf("create data directory %s: %w", d.data, err)
	}
	if d.masterKeyFile != "" {
		warnLooseMasterKey(stderr, d.masterKeyFile)
	}
	master, err := d.existingMaster()
	if err != nil {
		return nil, nil, err
	}
	if master == nil {
		return nil, nil, fmt.Errorf("a ledger on etcd needs the fleet's master key: pass --master-key-file or $%s (every node the same)", keys.MasterKeyEnv)
	}
	store, err := etcdstore.Open(cfg)
	if err != nil {
		return nil, nil, err
	}
	return store, master, nil
}

func migrate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("migrate", "Copy the bbolt ledger of --data (its server stopped) into an etcd cluster, for serve --etcd-endpoints.\nStart the fleet with the master key that ledger was written under.", stderr)
	var df dataFlags
	df.register(fs)
	var ef etcdFlags
	ef.register(fs, "to-etcd")
	replace := fs.Bool("replace", false, "empty a prefix that already holds keys (another ledger) before copying")
	if err := parse(fs, args, "to-etcd"); err != nil {
		return err
	}
	cfg, err := ef.config("to-etcd")
	if err != nil {
		return err
	}
	// Opened once as a ledger first: a file of another layout is refused.
	check, err := storage.OpenBolt(df.dbPath())
	if err != nil {
		return fmt.Errorf("%w (is its server running? stop it first)", err)
	}
	if err := check.Close(); err != nil {
		return err
	}
	n, err := etcdstore.Migrate(cfg, df.dbPath(), *replace, func(copied int) {
		fmt.Fprintf(stderr, "copied %d keys\n", copied)
	})
	if errors.Is(err, etcdstore.ErrNotEmpty) {
		return fmt.Errorf("%w: pass --replace to overwrite it, or choose another --etcd-prefix", err)
	}
	if err != nil {
		return err
	}
	// A fleet decides from per-serial records, which bbolt's journal index
	// stood in for: write them before any node serves the ledger.
	store, err := etcdstore.Open(cfg)
	if err != nil {
		return err
	}
	err = verify.BuildRecords(store, time.Now())
	if err = errors.Join(err, store.Close()); err != nil {
		return fmt.Errorf("per-serial records: %w", err)
	}
	fmt.Fprintf(stdout, "migrated %d keys from %s to etcd %s under %s\n", n, df.dbPath(), strings.Join(cfg.Endpoints, ","), cfg.Prefix)
	return nil
}
