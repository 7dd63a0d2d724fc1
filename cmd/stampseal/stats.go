package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/stampseal/stampseal/report"
	"github.com/stampseal/stampseal/storage"
)

// statsRebuild rebuilds the owner's figures from the ledger, as serve does
// on every start, and prints them: a check that the journal alone gives
// them, and a way to read them with the server stopped.
func statsRebuild(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("stats rebuild", "Rebuild the owner's figures from the ledger of --data (server stopped) and print\nthem per merchant, over the window (default: the last 30 days).", stderr)
	var df dataFlags
	df.register(fs)
	merchant := fs.String("merchant", "", "only this merchant")
	from := fs.String("from", "", "first day of the window (YYYY-MM-DD)")
	to := fs.String("to", "", "last day of the window (YYYY-MM-DD)")
	if err := parse(fs, args); err != nil {
		return err
	}
	f, t := report.Window(time.Now())
	for _, p := range []struct {
		v   string
		dst *time.Time
	}{{*from, &f}, {*to, &t}} {
		if p.v == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, p.v)
		if err != nil {
			return fmt.Errorf("--from/--to %q: want YYYY-MM-DD", p.v)
		}
		*p.dst = d
	}
	store, err := storage.OpenBolt(df.dbPath())
	if err != nil {
		return fmt.Errorf("%w (is the server running? it keeps the figures itself: GET /v1/merchants/{id}/stats)", err)
	}
	defer store.Close()
	start := time.Now()
	book, err := report.Open(store)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "rebuilt from %d ledger records and events in %s\n", book.Folded(), time.Since(start).Round(time.Millisecond))
	merchants := book.Merchants()
	if *merchant != "" {
		merchants = []string{*merchant}
	}
	enc := json.NewEncoder(stdout)
	for _, m := range merchants {
		s, err := book.Stats(m, f, t)
		if err != nil {
			return err
		}
		s.Days = nil // the totals; the per-day series is for charts
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}
