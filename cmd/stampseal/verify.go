package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/stampseal/stampseal/verify"
)

func verifyOffline(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify --public-keyset FILE CODE", "Check a code's signature offline with only the merchant's public keyset.\nIt cannot tell whether the code was used or blocked: that needs the ledger.", stderr)
	pubPath := fs.String("public-keyset", "", "public keyset file from \"stampseal keys export\" (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pubPath == "" || fs.NArg() != 1 {
		fs.Usage()
		return errors.New("--public-keyset and one CODE are required")
	}
	pub, err := os.ReadFile(*pubPath)
	if err != nil {
		return err
	}
	claims, err := verify.Offline(pub, fs.Arg(0))
	if err != nil {
		var r *verify.Refusal
		if errors.As(err, &r) {
			fmt.Fprintf(stdout, "INVALID: %s (%s)\n", r.Message, r.Code)
			return exitCode(2)
		}
		return err
	}
	exp := "never"
	if e := claims.Expires(); !e.IsZero() {
		exp = e.Format("2006-01-02T15:04:05Z07:00")
	}
	fmt.Fprintf(stdout, "VALID signature: %s %s of %s, valid from %s, expires %s\n",
		claims.Kind, claims.Serial, claims.Merchant, claims.ValidFrom().Format("2006-01-02T15:04:05Z07:00"), exp)
	return nil
}
