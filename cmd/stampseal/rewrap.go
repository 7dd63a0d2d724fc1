package main

import (
	"fmt"
	"io"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

func keysRewrap(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys rewrap", "Re-encrypt every signing keyset, server secret and sealed code under a new master key, in one\ntransaction (server stopped). Afterwards the old master key no longer opens the data: start the\nserver with --master-key-file set to the new key. Backups taken before stay under the old key.", stderr)
	var df dataFlags
	df.register(fs)
	newFile := fs.String("new-master-key-file", "", "file holding the new master key, base64 of 32 bytes (required; make one with: head -c 32 /dev/urandom | base64)")
	if err := parse(fs, args, "new-master-key-file"); err != nil {
		return err
	}
	old, err := df.existingMaster()
	if err != nil {
		return err
	}
	if old == nil {
		return fmt.Errorf("no current master key: pass --master-key-file or $%s", keys.MasterKeyEnv)
	}
	next, err := keys.LoadMasterKeyFile(*newFile)
	if err != nil {
		return err
	}
	store, err := storage.OpenBolt(df.dbPath())
	if err != nil {
		return fmt.Errorf("%w (stop the server first)", err)
	}
	n, err := keys.Rewrap(store, old, next, credential.ResealCodes, audit.Operator)
	if err != nil {
		store.Close()
		return fmt.Errorf("rewrap (nothing was changed): %w", err)
	}
	if err := store.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Re-encrypted %d keysets, %d server secrets and %d codes under the new master key.\n", n.Keysets, n.Secrets, n.Codes)
	fmt.Fprintf(stdout, "Start the server with --master-key-file %s; the old key no longer opens this database (keep it only for older backups).\n", *newFile)
	return nil
}
