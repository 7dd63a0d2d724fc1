package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

func backup(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", "Write a consistent snapshot of the database (keysets and codes stay sealed; the master key is not in it),\nwith an integrity trailer that restore checks. With the server running, use GET /v1/admin/backup instead.", stderr)
	var df dataFlags
	df.register(fs)
	out := fs.String("out", "", "snapshot file to write (required)")
	if err := parse(fs, args, "out"); err != nil {
		return err
	}
	master, err := df.existingMaster()
	if err != nil {
		return err
	}
	if master == nil {
		return fmt.Errorf("no master key: pass --master-key-file or $%s (the backup's integrity trailer is made under it)", keys.MasterKeyEnv)
	}
	store, err := storage.OpenBolt(df.dbPath())
	if err != nil {
		return fmt.Errorf("%w (is the server running? use GET /v1/admin/backup)", err)
	}
	defer store.Close()
	// Recorded first, so that the snapshot holds its own entry.
	if err := audit.New(store).Record(audit.Global, audit.BackupTaken, audit.Operator, *out, nil); err != nil {
		return err
	}
	ring := keys.NewRing(store, master)
	n, err := writeAtomically(*out, func(w io.Writer) (int64, error) {
		bw, err := ring.NewBackupWriter(w)
		if err != nil {
			return 0, err
		}
		n, err := store.Backup(bw)
		if err != nil {
			return n, err
		}
		return n, bw.Close()
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d bytes to %s\n", n, *out)
	return nil
}

func restore(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", "Put a snapshot back as the database of --data (server stopped), after checking its integrity\ntrailer. Start the server with the same master key as when the snapshot was taken.", stderr)
	var df dataFlags
	df.register(fs)
	in := fs.String("in", "", "snapshot file (required)")
	force := fs.Bool("force", false, "replace an existing database")
	unverified := fs.Bool("unverified", false, "restore a backup without an integrity trailer (taken before backups were sealed)")
	if err := parse(fs, args, "in"); err != nil {
		return err
	}
	src, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return err
	}
	master, err := df.existingMaster()
	if err != nil {
		return err
	}
	size, macChecked, err := keys.CheckBackup(src, info.Size(), master)
	switch {
	case errors.Is(err, keys.ErrBackupUnsealed) && *unverified:
		size = info.Size()
		fmt.Fprintf(stderr, "WARNING: %s has no integrity trailer; restoring it unchecked (--unverified).\n", *in)
	case errors.Is(err, keys.ErrBackupUnsealed):
		return fmt.Errorf("refusing to restore %s: %w; pass --unverified to restore a backup taken before backups were sealed", *in, err)
	case err != nil:
		return fmt.Errorf("refusing to restore %s: %w", *in, err)
	case !macChecked:
		fmt.Fprintf(stderr, "WARNING: no master key found (--master-key-file, $%s or %s): the backup's checksum was verified, which finds damage, but not its MAC, which finds tampering. Start the server with the master key it was taken under.\n",
			keys.MasterKeyEnv, filepath.Join(df.data, "master.key"))
	}
	if _, err := os.Stat(df.dbPath()); err == nil && !*force {
		return fmt.Errorf("%s exists: pass --force to replace it", df.dbPath())
	}
	if err := os.MkdirAll(df.data, 0o700); err != nil {
		return err
	}
	n, err := writeAtomically(df.dbPath(), func(w io.Writer) (int64, error) {
		return io.Copy(w, io.NewSectionReader(src, 0, size))
	}, func(tmp string) error {
		// Check the snapshot opens as a stampseal database before it replaces anything.
		check, err := storage.OpenBolt(tmp)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", *in, err)
		}
		return check.Close()
	})
	if err != nil {
		return err
	}
	// The restored ledger records that it was restored, and from what.
	store, err := storage.OpenBolt(df.dbPath())
	if err != nil {
		return err
	}
	err = audit.New(store).Record(audit.Global, audit.BackupRestored, audit.Operator, filepath.Base(*in), map[string]string{"bytes": fmt.Sprint(n)})
	if err = errors.Join(err, store.Close()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %d bytes into %s\n", n, df.dbPath())
	return nil
}

// writeAtomically writes to a temporary file beside path, syncs it, runs
// the checks on it and renames it into place, so that a crash leaves the
// old file or the new.
func writeAtomically(path string, write func(io.Writer) (int64, error), checks ...func(tmp string) error) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".stampseal-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := write(tmp)
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return 0, err
	}
	for _, check := range checks {
		if err := check(tmp.Name()); err != nil {
			return 0, err
		}
	}
	return n, os.Rename(tmp.Name(), path)
}
