package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stampseal/stampseal/storage"
)

func backup(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", "Write a consistent snapshot of the database (keysets stay encrypted; the master key is not in it).\nWith the server running, use GET /v1/admin/backup instead.", stderr)
	var df dataFlags
	df.register(fs)
	out := fs.String("out", "", "snapshot file to write (required)")
	if err := parse(fs, args, "out"); err != nil {
		return err
	}
	store, err := storage.OpenBolt(df.dbPath())
	if err != nil {
		return fmt.Errorf("%w (is the server running? use GET /v1/admin/backup)", err)
	}
	defer store.Close()
	n, err := writeAtomically(*out, store.Backup)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d bytes to %s\n", n, *out)
	return nil
}

func restore(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", "Put a snapshot back as the database of --data (server stopped). Start the server\nwith the same master key as when the snapshot was taken.", stderr)
	var df dataFlags
	df.register(fs)
	in := fs.String("in", "", "snapshot file (required)")
	force := fs.Bool("force", false, "replace an existing database")
	if err := parse(fs, args, "in"); err != nil {
		return err
	}
	// Check the snapshot opens as a stampseal database before touching anything.
	check, err := storage.OpenBolt(*in)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", *in, err)
	}
	check.Close()
	if _, err := os.Stat(df.dbPath()); err == nil && !*force {
		return fmt.Errorf("%s exists: pass --force to replace it", df.dbPath())
	}
	if err := os.MkdirAll(df.data, 0o700); err != nil {
		return err
	}
	src, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer src.Close()
	n, err := writeAtomically(df.dbPath(), func(w io.Writer) (int64, error) { return io.Copy(w, src) })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %d bytes into %s\n", n, df.dbPath())
	return nil
}

// writeAtomically writes to a temporary file beside path, syncs it and
// renames it into place, so that a crash leaves the old file or the new.
func writeAtomically(path string, write func(io.Writer) (int64, error)) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".stampseal-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := write(tmp)
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return 0, err
	}
	return n, os.Rename(tmp.Name(), path)
}
