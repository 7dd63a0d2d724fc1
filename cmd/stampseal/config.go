package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tink-crypto/tink-go/v2/tink"
	bolt "go.etcd.io/bbolt"

	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// dataFlags are the flags every command that opens the ledger shares.
type dataFlags struct {
	data          string
	masterKeyFile string
}

func (d *dataFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.data, "data", "./stampseal-data", "data directory (created if missing): holds stampseal.db")
	fs.StringVar(&d.masterKeyFile, "master-key-file", "", "file holding the master key (base64 of 32 bytes); default: $"+keys.MasterKeyEnv+", else <data>/master.key, generated on first start")
}

func (d *dataFlags) dbPath() string { return filepath.Join(d.data, "stampseal.db") }

// ledger is an opened data directory with the domain services over it.
type ledger struct{ *service.Ledger }

// openStore creates the data directory if needed, loads the master key
// (from flag, environment, or a generated development file, with a
// warning) and opens the database.
func (d *dataFlags) openStore(stderr io.Writer) (*storage.Bolt, tink.AEAD, error) {
	if d.data == "" {
		return nil, nil, errors.New("--data must not be empty")
	}
	if err := os.MkdirAll(d.data, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data directory %s: %w", d.data, err)
	}
	master, err := d.loadMaster(stderr)
	if err != nil {
		return nil, nil, err
	}
	store, err := storage.OpenBolt(d.dbPath())
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, nil, fmt.Errorf("%w: the database is locked (is another stampseal using %s?)", err, d.data)
	}
	if err != nil {
		return nil, nil, err
	}
	return store, master, nil
}

// open opens the data directory and the domain services over it.
func (d *dataFlags) open(stderr io.Writer) (*ledger, error) {
	store, master, err := d.openStore(stderr)
	if err != nil {
		return nil, err
	}
	l, err := service.OpenLedger(service.Options{Store: store, Master: master})
	if err != nil {
		store.Close()
		return nil, err
	}
	warnSealed(stderr, l.SealedCodes)
	return &ledger{l}, nil
}

// warnSealed tells the operator that codes an old database kept in clear
// were sealed just now.
func warnSealed(stderr io.Writer, n int) {
	if n > 0 {
		fmt.Fprintf(stderr, "Sealed %d codes that this database kept in clear. Backups taken before now still hold them: destroy them.\n", n)
	}
}

func (d *dataFlags) loadMaster(stderr io.Writer) (tink.AEAD, error) {
	if d.masterKeyFile != "" {
		warnLooseMasterKey(stderr, d.masterKeyFile)
		return keys.LoadMasterKeyFile(d.masterKeyFile)
	}
	if v := os.Getenv(keys.MasterKeyEnv); v != "" {
		m, err := keys.ParseMasterKey(v)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", keys.MasterKeyEnv, err)
		}
		return m, nil
	}
	path := filepath.Join(d.data, "master.key")
	warnLooseMasterKey(stderr, path)
	m, created, err := keys.EnsureMasterKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		fmt.Fprintf(stderr, "WARNING: generated a development master key at %s. It encrypts every signing key and sits beside the database it protects: in production pass --master-key-file or $%s, and keep it out of backups.\n", path, keys.MasterKeyEnv)
	}
	return m, nil
}

// existingMaster loads the master key from the flag, the environment or
// <data>/master.key, never generating one; nil when there is none.
func (d *dataFlags) existingMaster() (tink.AEAD, error) {
	if d.masterKeyFile != "" || os.Getenv(keys.MasterKeyEnv) != "" {
		return d.loadMaster(io.Discard)
	}
	path := filepath.Join(d.data, "master.key")
	if _, err := os.Stat(path); err != nil {
		return nil, nil
	}
	return keys.LoadMasterKeyFile(path)
}

func (l *ledger) close() error { return l.Store.Close() }

// with opens the ledger, runs fn and closes the ledger.
func (d *dataFlags) with(stderr io.Writer, fn func(*ledger) error) error {
	l, err := d.open(stderr)
	if err != nil {
		return err
	}
	defer l.close()
	return fn(l)
}

// warnLooseMasterKey warns loudly when others than its owner may read the
// master key file. It warns rather than refuses: the file may sit on a
// volume whose permissions the operator does not control (a mounted
// secret), and refusing would take a running shop down on an upgrade.
func warnLooseMasterKey(stderr io.Writer, path string) {
	if mode, loose := keys.LooseMasterKeyFile(path); loose {
		fmt.Fprintf(stderr, "WARNING: MASTER KEY READABLE BY OTHERS: %s has mode %04o; anyone who can read it can decrypt every signing key and code. Run: chmod 600 %s\n", path, mode, path)
	}
}
