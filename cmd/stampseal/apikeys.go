package main

import (
	"io"

	"github.com/stampseal/stampseal/audit"
)

func apikeyList(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apikey list", "List a merchant's API keys: id, name, role, created, last used, expiry, revocation.\nTokens are never shown again. With the server running, use GET /v1/apikeys?merchant=.", stderr)
	var df dataFlags
	df.register(fs)
	merchant := fs.String("merchant", "", "merchant whose keys to list; * for the all-merchants admin keys (required)")
	if err := parse(fs, args, "merchant"); err != nil {
		return err
	}
	return df.with(stderr, func(l *ledger) error {
		keys, err := l.Access.Keys(*merchant)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"apikeys": keys})
	})
}

func apikeyRevoke(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apikey revoke", "Revoke an API key: from the next request on it answers 401 key_revoked, and its\nreview-page sessions end. With the server running, use POST /v1/apikeys/{id}/revoke.", stderr)
	var df dataFlags
	df.register(fs)
	id := fs.String("id", "", "id of the key, as apikey list shows it (required)")
	reason := fs.String("reason", "", "why, kept in the audit trail (required)")
	if err := parse(fs, args, "id", "reason"); err != nil {
		return err
	}
	return df.with(stderr, func(l *ledger) error {
		info, err := l.Access.Revoke(audit.Operator, *id, *reason)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"revoked": true, "apikey": info})
	})
}
