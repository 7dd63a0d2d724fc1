// Command stampseal runs the loyalty-credential service and its
// administration commands. It only wires: flags and configuration in,
// constructors called, server started.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usage = `stampseal: unforgeable stamp cards, punch tokens and coupons.

Usage: stampseal <command> [flags]

Commands:
  serve             run the HTTP API
  merchant create   create a merchant and its signing keyset
  apikey create     create an API key (the token is printed once)
  apikey list       list a merchant's API keys (never their tokens)
  apikey revoke     revoke an API key: it is refused from the next request on
  keys rotate       give a merchant a new primary signing key
  keys export       print a merchant's public keyset (Tink JSON)
  keys rewrap       re-encrypt every keyset, secret and code under a new master key
  issue coupons     mint coupons and print their codes
  verify            check a code offline with a public keyset
  backup            write a consistent snapshot of the database
  restore           put a snapshot back as the database
  migrate           copy the bbolt ledger into an etcd cluster (serve --etcd-endpoints)
  till              run a till agent that keeps selling when the network drops
  stats rebuild     rebuild the owner's figures from the ledger and print them
  bench             drive a server (or --self, an in-process one) with a mixed load; print latency
  simulate          measure fraud detection on a simulated month of a bakery chain

Run "stampseal <command> -h" for a command's flags.
`

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var exit exitCode
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &exit):
		os.Exit(int(exit))
	default:
		fmt.Fprintln(os.Stderr, "stampseal:", err)
		os.Exit(1)
	}
}

// exitCode ends the program with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	two := args[0]
	if len(args) > 1 {
		two = args[0] + " " + args[1]
	}
	switch {
	case args[0] == "serve":
		return serve(args[1:], stderr)
	case two == "merchant create":
		return merchantCreate(args[2:], stdout, stderr)
	case two == "apikey create":
		return apikeyCreate(args[2:], stdout, stderr)
	case two == "apikey list":
		return apikeyList(args[2:], stdout, stderr)
	case two == "apikey revoke":
		return apikeyRevoke(args[2:], stdout, stderr)
	case two == "keys rotate":
		return keysRotate(args[2:], stdout, stderr)
	case two == "keys rewrap":
		return keysRewrap(args[2:], stdout, stderr)
	case two == "keys export":
		return keysExport(args[2:], stdout, stderr)
	case two == "issue coupons":
		return issueCoupons(args[2:], stdout, stderr)
	case args[0] == "verify":
		return verifyOffline(args[1:], stdout, stderr)
	case args[0] == "backup":
		return backup(args[1:], stdout, stderr)
	case args[0] == "restore":
		return restore(args[1:], stdout, stderr)
	case args[0] == "migrate":
		return migrate(args[1:], stdout, stderr)
	case args[0] == "till":
		return tillAgent(args[1:], stderr)
	case two == "stats rebuild":
		return statsRebuild(args[2:], stdout, stderr)
	case args[0] == "bench":
		return bench(args[1:], stdout, stderr)
	case args[0] == "simulate":
		return simulate(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// newFlags makes a flag set whose -h prints a one-line summary and flags.
func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: stampseal %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and checks that every flag named in required is set.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	var missing []string
	for _, name := range required {
		if f := fs.Lookup(name); f == nil || f.Value.String() == "" {
			missing = append(missing, "--"+name)
		}
	}
	if len(missing) > 0 {
		fs.Usage()
		return fmt.Errorf("%s required", strings.Join(missing, ", "))
	}
	return nil
}
