// Package loadgen drives a stampseal server over HTTP with a mixed
// workload (verify, redeem, stamp, issue) from many clients, closed or open
// loop, and reports throughput and exact latency percentiles per operation.
package loadgen

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Ops are the operations a mix can hold, in table order.
var Ops = []string{"verify", "redeem", "stamp", "issue"}

// Config is one load run.
type Config struct {
	Addr      string         // base URL of the server
	Token     string         // an all-merchants admin API key of it
	Duration  time.Duration  // how long to run
	Clients   int            // concurrent clients, or workers for Rate
	Rate      int            // open loop: requests per second in total; 0: closed loop
	Mix       map[string]int // operation weights, see ParseMix
	Coupons   int            // single-use coupons to mint first
	Cards     int            // stamp cards to issue first
	Registers int            // register API keys the clients share
	// Roaming presents a card at any register, as copies of one card do
	// (every one a duplicate_card incident for the fraud module to write);
	// false: each card at its home register, as honest traffic is.
	Roaming  bool
	Progress time.Duration // interval of progress lines on stderr
}

// Run sets up a merchant on the server at c.Addr, runs the workload and
// prints a table of throughput and latency per operation to stdout.
func Run(c Config, stdout, stderr io.Writer) error {
	return c.run(stdout, stderr)
}

// ParseMix reads "verify=40,redeem=30": weights of known operations.
func ParseMix(s string) (map[string]int, error) {
	m := map[string]int{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want op=weight", part)
		}
		if !slices.Contains(Ops, name) {
			return nil, fmt.Errorf("unknown operation %q: want %s", name, strings.Join(Ops, ", "))
		}
		m[name] += n
		total += n
	}
	if total == 0 {
		return nil, errors.New("the weights add up to 0")
	}
	return m, nil
}
