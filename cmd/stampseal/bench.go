package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/internal/loadgen"
	"github.com/stampseal/stampseal/issuer"
)

func bench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "Drive a server with a mixed workload over loopback HTTP and print throughput and latency per operation.\n"+
		"With --self, an in-process server on a temporary data directory is the target.", stderr)
	var c loadgen.Config
	var self bool
	var mix string
	fs.StringVar(&c.Addr, "addr", "http://127.0.0.1:8080", "base URL of the server to drive (ignored with --self)")
	fs.StringVar(&c.Token, "token", "", "an all-merchants admin API key of that server (default $"+BootstrapEnv+"; ignored with --self)")
	fs.BoolVar(&self, "self", false, "start an in-process server on a temporary data directory and drive it")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "how long to run the workload")
	fs.IntVar(&c.Clients, "clients", 64, "concurrent clients (closed loop), or workers sending the --rate schedule")
	fs.IntVar(&c.Rate, "rate", 0, "open loop: send this many requests per second in total, latency counted from the scheduled time; 0: closed loop")
	fs.StringVar(&mix, "mix", "verify=40,redeem=30,stamp=20,issue=10", "operations and their weights")
	fs.IntVar(&c.Coupons, "coupons", 0, "single-use coupons to mint before the run (default: enough for the redeem share at 4000 requests/s, or at --rate)")
	fs.IntVar(&c.Cards, "cards", 1000, "stamp cards to issue before the run")
	fs.IntVar(&c.Registers, "registers", 8, "register API keys the clients share")
	fs.BoolVar(&c.Roaming, "roaming-cards", false, "present each card at any register, as copies of one card are (the fraud module then raises and writes duplicate_card alerts); default: each card at its home register")
	fs.DurationVar(&c.Progress, "progress", 2*time.Second, "interval of the progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if c.Mix, err = loadgen.ParseMix(mix); err != nil {
		return fmt.Errorf("--mix %q: %w", mix, err)
	}
	switch {
	case c.Duration <= 0:
		return fmt.Errorf("--duration %v: must be positive", c.Duration)
	case c.Clients < 1:
		return fmt.Errorf("--clients %d: must be at least 1", c.Clients)
	case c.Rate < 0:
		return fmt.Errorf("--rate %d: must not be negative", c.Rate)
	case c.Cards < 1 || c.Registers < 1:
		return errors.New("--cards and --registers must be at least 1")
	}
	if c.Coupons == 0 {
		rate := c.Rate
		if rate == 0 {
			rate = 4000
		}
		total := 0
		for _, w := range c.Mix {
			total += w
		}
		c.Coupons = max(1000, int(float64(rate)*c.Duration.Seconds()*float64(c.Mix["redeem"])/float64(total)*1.2))
	}
	if self {
		addr, token, stop, err := startSelf(stderr)
		if err != nil {
			return err
		}
		defer stop()
		c.Addr, c.Token = addr, token
	} else if c.Token == "" {
		if c.Token = os.Getenv(BootstrapEnv); c.Token == "" {
			return errors.New("--token (an admin API key) is required, or use --self")
		}
	}
	c.Addr = strings.TrimSuffix(c.Addr, "/")
	return loadgen.Run(c, stdout, stderr)
}

// startSelf serves stampseal in-process, wired as serve wires it, on a
// temporary data directory with a generated bootstrap token; the issuance
// limit is lifted so that the set-up can mint its coupons.
func startSelf(stderr io.Writer) (addr, token string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "stampseal-bench-")
	if err != nil {
		return "", "", nil, err
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := openService(&dataFlags{data: dir}, io.Discard, log, serviceOptions{cacheBytes: 64 << 20,
		issueLimit: issuer.Limit{PerSecond: 1e6, Burst: 1 << 30}, rewardLimit: issuer.Limit{PerSecond: 1e6, Burst: 1 << 30}})
	if err == nil {
		if token, err = access.NewToken(); err == nil {
			_, err = svc.Access.Bootstrap(token)
		}
	}
	var ln net.Listener
	if err == nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		if svc != nil {
			svc.Close()
		}
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Serve(ctx, ln); close(done) }()
	addr = "http://" + ln.Addr().String()
	fmt.Fprintf(stderr, "bench: in-process server on %s, data in %s (removed at the end)\n", addr, dir)
	return addr, token, func() { cancel(); <-done; os.RemoveAll(dir) }, nil
}
