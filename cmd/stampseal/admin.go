package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
)

func merchantCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merchant create", "Create a merchant and its signing keyset (server must be stopped; or use POST /v1/merchants).", stderr)
	var df dataFlags
	df.register(fs)
	id := fs.String("id", "", "merchant id, e.g. bakery-1 (required)")
	name := fs.String("name", "", "merchant name shown on cards (required)")
	if err := parse(fs, args, "id", "name"); err != nil {
		return err
	}
	return df.with(stderr, func(l *ledger) error {
		m, err := l.Access.CreateMerchant(*id, *name)
		if err != nil {
			return err
		}
		return printJSON(stdout, m)
	})
}

func apikeyCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apikey create", "Create an API key. The token is printed once and stored only hashed.", stderr)
	var df dataFlags
	df.register(fs)
	merchant := fs.String("merchant", "", "merchant the key acts for (required)")
	role := fs.String("role", "", "admin, issuer, register or auditor (required)")
	name := fs.String("name", "", "who holds the key, e.g. \"till 3\" (required)")
	expiresIn := fs.Duration("expires-in", 0, "the key stops working after this long, e.g. 720h (default: never)")
	if err := parse(fs, args, "merchant", "role", "name"); err != nil {
		return err
	}
	return df.with(stderr, func(l *ledger) error {
		k, token, err := l.Access.CreateKeyAs(audit.Operator, access.KeySpec{Merchant: *merchant, Role: access.Role(*role), Name: *name, ExpiresIn: *expiresIn})
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"id": k.ID, "token": token, "merchant": k.Merchant, "role": k.Role, "name": k.Name, "expires_at": k.ExpiresAt})
	})
}

func keysRotate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys rotate", "Give a merchant a new primary signing key. Old codes keep verifying unless --compromised.", stderr)
	var df dataFlags
	df.register(fs)
	merchant := fs.String("merchant", "", "merchant (required)")
	compromised := fs.Bool("compromised", false, "the replaced key leaked: its codes fail from now on and raise compromised_key alerts")
	if err := parse(fs, args, "merchant"); err != nil {
		return err
	}
	return df.with(stderr, func(l *ledger) error {
		id, err := l.Ring.Rotate(*merchant, *compromised)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"primary_key_id": id})
	})
}

func keysExport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys export", "Print a merchant's public keyset (Tink JSON) for offline verification.", stderr)
	var df dataFlags
	df.register(fs)
	merchant := fs.String("merchant", "", "merchant (required)")
	out := fs.String("out", "", "write to this file instead of stdout")
	if err := parse(fs, args, "merchant"); err != nil {
		return err
	}
	return df.with(stderr, func(l *ledger) error {
		pub, err := l.Ring.PublicKeyset(*merchant)
		if err != nil {
			return fmt.Errorf("merchant %s: %w", *merchant, err)
		}
		if *out != "" {
			return os.WriteFile(*out, append(pub, '\n'), 0o644)
		}
		_, err = fmt.Fprintf(stdout, "%s\n", pub)
		return err
	})
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
