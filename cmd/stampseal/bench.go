package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/api"
	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/metrics"
	"github.com/stampseal/stampseal/verify"
)

// benchOps are the operations a bench mix can hold, in table order.
var benchOps = []string{"verify", "redeem", "stamp", "issue"}

// benchConfig is the parsed command line of stampseal bench.
type benchConfig struct {
	addr, token string
	self        bool
	duration    time.Duration
	clients     int
	rate        int
	mix         map[string]int
	coupons     int
	cards       int
	registers   int
	every       time.Duration
}

func bench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "Drive a server with a mixed workload over loopback HTTP and print throughput and latency per operation.\n"+
		"With --self, an in-process server on a temporary data directory is the target.", stderr)
	var c benchConfig
	var mix string
	fs.StringVar(&c.addr, "addr", "http://127.0.0.1:8080", "base URL of the server to drive (ignored with --self)")
	fs.StringVar(&c.token, "token", "", "an all-merchants admin API key of that server (default $"+BootstrapEnv+"; ignored with --self)")
	fs.BoolVar(&c.self, "self", false, "start an in-process server on a temporary data directory and drive it")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long to run the workload")
	fs.IntVar(&c.clients, "clients", 64, "concurrent clients (closed loop), or workers sending the --rate schedule")
	fs.IntVar(&c.rate, "rate", 0, "open loop: send this many requests per second in total, latency counted from the scheduled time; 0: closed loop")
	fs.StringVar(&mix, "mix", "verify=40,redeem=30,stamp=20,issue=10", "operations and their weights")
	fs.IntVar(&c.coupons, "coupons", 0, "single-use coupons to mint before the run (default: enough for the redeem share at 4000 requests/s, or at --rate)")
	fs.IntVar(&c.cards, "cards", 1000, "stamp cards to issue before the run")
	fs.IntVar(&c.registers, "registers", 8, "register API keys the clients share")
	fs.DurationVar(&c.every, "progress", 2*time.Second, "interval of the progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if c.mix, err = parseMix(mix); err != nil {
		return fmt.Errorf("--mix %q: %w", mix, err)
	}
	switch {
	case c.duration <= 0:
		return fmt.Errorf("--duration %v: must be positive", c.duration)
	case c.clients < 1:
		return fmt.Errorf("--clients %d: must be at least 1", c.clients)
	case c.rate < 0:
		return fmt.Errorf("--rate %d: must not be negative", c.rate)
	case c.cards < 1 || c.registers < 1:
		return errors.New("--cards and --registers must be at least 1")
	}
	if c.coupons == 0 {
		rate := c.rate
		if rate == 0 {
			rate = 4000
		}
		total := 0
		for _, w := range c.mix {
			total += w
		}
		c.coupons = max(1000, int(float64(rate)*c.duration.Seconds()*float64(c.mix["redeem"])/float64(total)*1.2))
	}
	if c.self {
		stop, err := c.startSelf(stderr)
		if err != nil {
			return err
		}
		defer stop()
	} else if c.token == "" {
		if c.token = os.Getenv(BootstrapEnv); c.token == "" {
			return errors.New("--token (an admin API key) is required, or use --self")
		}
	}
	c.addr = strings.TrimSuffix(c.addr, "/")
	return c.run(stdout, stderr)
}

// parseMix reads "verify=40,redeem=30": weights of known operations.
func parseMix(s string) (map[string]int, error) {
	m := map[string]int{}
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(w)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want op=weight", part)
		}
		if !slices.Contains(benchOps, name) {
			return nil, fmt.Errorf("unknown operation %q: want %s", name, strings.Join(benchOps, ", "))
		}
		m[name] += n
		total += n
	}
	if total == 0 {
		return nil, errors.New("the weights add up to 0")
	}
	return m, nil
}

// startSelf serves the API in-process, wired as serve wires it, on a
// temporary data directory with a generated bootstrap token.
func (c *benchConfig) startSelf(stderr io.Writer) (stop func(), err error) {
	dir, err := os.MkdirTemp("", "stampseal-bench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	log := slog.New(slog.DiscardHandler)
	m := metrics.New()
	var monitor *fraud.Monitor
	decisions := observerFunc(func(ev fraud.Event) {
		if ev.Op != fraud.OpIssue {
			m.Decision(string(ev.Op), ev.Result)
		}
		monitor.Observe(ev)
	})
	df := dataFlags{data: dir}
	l, err := df.open(io.Discard, verify.WithObserver(decisions))
	if err != nil {
		return nil, err
	}
	monitor = fraud.New(l.store, fraud.DefaultConfig(), fraud.WithMetrics(m), fraud.WithLogger(log))
	if c.token, err = access.NewToken(); err != nil {
		l.close()
		return nil, err
	}
	if _, err := l.access.Bootstrap(c.token); err != nil {
		l.close()
		return nil, err
	}
	a := api.New(api.Deps{Access: l.access, Keys: l.ring, Issuer: l.issuer, Verifier: l.verifier, Store: l.store,
		Throttle: monitor, Observer: decisions, Review: monitor, Barcodes: barcode.NewCache(64 << 20), Short: l.short,
		Metrics: m, Log: log})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.close()
		return nil, err
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10}
	go srv.Serve(ln)
	c.addr = "http://" + ln.Addr().String()
	fmt.Fprintf(stderr, "bench: in-process server on %s, data in %s (removed at the end)\n", c.addr, dir)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		monitor.Flush()
		l.close()
		os.RemoveAll(dir)
	}, nil
}

// benchClient sends the workload's requests.
type benchClient struct {
	http  *http.Client
	addr  string
	ids   atomic.Uint64
	run   string // random per run, in idempotency keys
	shop  benchShop
	pool  chan string // unredeemed coupon codes
	cards []string
}

// benchShop is the bench's merchant and its keys. Each client mints with
// issuer keys of its own, as every point of sale has one: one key would hit
// the server's per-key issuance limit (429 rate_limited).
type benchShop struct {
	merchant  string
	issuers   []string // for the issue operation
	registers []string
}

// do sends one JSON request and returns the status and body.
func (b *benchClient) do(method, path, token string, body any) (int, []byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(method, b.addr+path, bytes.NewReader(raw))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func (b *benchClient) must(want int, path, token string, body, out any) error {
	status, raw, err := b.do("POST", path, token, body)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	if status != want {
		return fmt.Errorf("POST %s answered %d: %s", path, status, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// setup creates a merchant of its own, keys, a program without limits,
// coupons and cards.
func (c *benchConfig) setup(b *benchClient, stderr io.Writer) error {
	start := time.Now()
	rnd := make([]byte, 4)
	rand.Read(rnd)
	b.run = hex.EncodeToString(rnd)
	sh := benchShop{merchant: "bench-" + b.run}
	if err := b.must(201, "/v1/merchants", c.token, map[string]string{"id": sh.merchant, "name": "Bench Bakery"}, nil); err != nil {
		return err
	}
	key := func(role, name string) (string, error) {
		var k struct{ Token string }
		err := b.must(201, "/v1/apikeys", c.token, map[string]string{"merchant": sh.merchant, "role": role, "name": name}, &k)
		return k.Token, err
	}
	// Setup mints with keys of its own, at most 1,500 credentials each
	// (below the default burst of the issuance limit).
	var setupIssuers []string
	for i := range (c.coupons+c.cards)/1500 + 1 {
		t, err := key("issuer", fmt.Sprintf("bench setup %d", i+1))
		if err != nil {
			return err
		}
		setupIssuers = append(setupIssuers, t)
	}
	for i := range c.clients {
		t, err := key("issuer", fmt.Sprintf("bench pos %d", i+1))
		if err != nil {
			return err
		}
		sh.issuers = append(sh.issuers, t)
	}
	for i := range c.registers {
		t, err := key("register", fmt.Sprintf("bench till %d", i+1))
		if err != nil {
			return err
		}
		sh.registers = append(sh.registers, t)
	}
	b.shop = sh
	if err := b.must(201, "/v1/programs", setupIssuers[0], map[string]any{"merchant": sh.merchant, "id": "coffee", "stamps_required": 10,
		"reward": "free coffee", "limits": map[string]int{"per_request": 0, "per_hour": 0, "per_day": 0}}, nil); err != nil {
		return err
	}
	// The pool holds the minted coupons and those the issue operation adds.
	b.pool = make(chan string, c.coupons+int(float64(max(c.rate, 4000))*c.duration.Seconds())+1)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan func() error)
	for range min(c.clients, 8) {
		wg.Go(func() {
			for job := range jobs {
				if err := job(); err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	minted := 0 // credentials per setup key: minted/1500 picks the key
	for left := c.coupons; left > 0; left -= 1000 {
		n := min(left, 1000)
		issuer := setupIssuers[minted/1500]
		minted += n
		jobs <- func() error {
			var out struct{ Coupons []benchCredential }
			err := b.must(201, "/v1/coupons", issuer, map[string]any{"merchant": sh.merchant, "offer": "bench", "valid_for": "168h", "max_uses": 1, "count": n}, &out)
			for _, cp := range out.Coupons {
				b.pool <- cp.Code
			}
			return err
		}
	}
	cards := make([]string, c.cards)
	for i := range cards {
		issuer := setupIssuers[minted/1500]
		minted++
		jobs <- func() error {
			var out benchCredential
			err := b.must(201, "/v1/cards", issuer, map[string]string{"merchant": sh.merchant, "program": "coffee"}, &out)
			cards[i] = out.Code
			return err
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("setup: %w", firstErr)
	}
	b.cards = cards
	fmt.Fprintf(stderr, "bench: merchant %s, %d registers, %d coupons and %d cards ready in %v\n",
		sh.merchant, len(sh.registers), len(b.pool), len(cards), time.Since(start).Round(time.Millisecond))
	return nil
}

// benchCredential is a credential as the issuing routes return it.
type benchCredential struct {
	Serial string `json:"serial"`
	Code   string `json:"code"`
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// errExhausted: the redeem operation found no coupon left to redeem.
var errExhausted = errors.New("no unredeemed coupon left")

// op sends one operation of the mix; err is any answer other than success.
func (b *benchClient) op(name string, rng *mrand.Rand) error {
	register := b.shop.registers[rng.IntN(len(b.shop.registers))]
	key := func() string { return b.run + "-" + strconv.FormatUint(b.ids.Add(1), 36) }
	var (
		status, want int
		raw          []byte
		err          error
	)
	switch name {
	case "verify":
		code := b.cards[rng.IntN(len(b.cards))]
		status, raw, err = b.do("POST", "/v1/verify", register, map[string]string{"code": code})
		want = 200
	case "redeem":
		var code string
		select {
		case code = <-b.pool:
		default:
			return errExhausted
		}
		status, raw, err = b.do("POST", "/v1/redeem", register, map[string]string{"code": code, "idempotency_key": key()})
		want = 200
	case "stamp":
		code := b.cards[rng.IntN(len(b.cards))]
		status, raw, err = b.do("POST", "/v1/cards/stamp", register, map[string]any{"card_code": code, "stamps": 1, "idempotency_key": key()})
		want = 200
	case "issue":
		var out struct{ Coupons []benchCredential }
		status, raw, err = b.do("POST", "/v1/coupons", b.shop.issuers[rng.IntN(len(b.shop.issuers))], map[string]any{"merchant": b.shop.merchant, "offer": "bench", "valid_for": "168h", "max_uses": 1, "count": 1})
		want = 201
		if err == nil && status == want && json.Unmarshal(raw, &out) == nil {
			for _, cp := range out.Coupons {
				select {
				case b.pool <- cp.Code:
				default:
				}
			}
		}
	}
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("%s answered %d: %.200s", name, status, bytes.TrimSpace(raw))
	}
	return nil
}

// sample is one finished request.
type sample struct {
	op  uint8
	err bool
	d   time.Duration
}

// recorder keeps one client's samples; merged after the run.
type recorder struct {
	samples []sample
	_       [64]byte // keep counters of neighbours off one cache line
}

func (c *benchConfig) run(stdout, stderr io.Writer) error {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        c.clients,
		MaxIdleConnsPerHost: c.clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	b := &benchClient{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, addr: c.addr}
	if err := c.setup(b, stderr); err != nil {
		return err
	}
	// Cumulative weights pick operations.
	var weights []int
	var names []string
	sum := 0
	for _, name := range benchOps {
		if w := c.mix[name]; w > 0 {
			sum += w
			weights, names = append(weights, sum), append(names, name)
		}
	}
	pickOp := func(rng *mrand.Rand) uint8 {
		n := rng.IntN(sum)
		i, _ := slices.BinarySearchFunc(weights, n, func(w, n int) int {
			if w > n {
				return 1
			}
			return -1
		})
		return uint8(i)
	}

	var done, failed atomic.Int64
	var firstErr atomic.Value
	var exhausted atomic.Bool // the pre-minted coupons ran out: stop, do not spin on errors
	recs := make([]recorder, c.clients)
	exec := func(rec *recorder, rng *mrand.Rand, op uint8, from time.Time) {
		err := b.op(names[op], rng)
		if errors.Is(err, errExhausted) {
			exhausted.Store(true)
			return
		}
		rec.samples = append(rec.samples, sample{op: op, err: err != nil, d: time.Since(from)})
		done.Add(1)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
	}

	mode := fmt.Sprintf("closed loop, %d clients", c.clients)
	if c.rate > 0 {
		mode = fmt.Sprintf("open loop, %d requests/s over %d workers", c.rate, c.clients)
	}
	fmt.Fprintf(stderr, "bench: %s against %s for %v, mix %s\n", mode, c.addr, c.duration, mixString(c.mix))
	start := time.Now()
	deadline := start.Add(c.duration)
	var wg sync.WaitGroup
	var late atomic.Int64
	if c.rate == 0 {
		for i := range c.clients {
			wg.Go(func() {
				rng := mrand.New(mrand.NewPCG(uint64(i), uint64(start.UnixNano())))
				for time.Now().Before(deadline) && !exhausted.Load() {
					exec(&recs[i], rng, pickOp(rng), time.Now())
				}
			})
		}
	} else {
		// The schedule is fixed in advance; a request waiting for a free
		// worker counts its wait (no coordinated omission).
		type job struct {
			op    uint8
			start time.Time
		}
		jobs := make(chan job, c.rate*int(c.duration/time.Second+1))
		for i := range c.clients {
			wg.Go(func() {
				rng := mrand.New(mrand.NewPCG(uint64(i), uint64(start.UnixNano())))
				for j := range jobs {
					exec(&recs[i], rng, j.op, j.start)
				}
			})
		}
		wg.Go(func() {
			defer close(jobs)
			rng := mrand.New(mrand.NewPCG(7, uint64(start.UnixNano())))
			interval := time.Second / time.Duration(c.rate)
			sent := 0
			for {
				now := time.Now()
				if !now.Before(deadline) || exhausted.Load() {
					return
				}
				due := int(now.Sub(start) / interval)
				for ; sent <= due; sent++ {
					at := start.Add(time.Duration(sent) * interval)
					select {
					case jobs <- job{op: pickOp(rng), start: at}:
					default:
						late.Add(1) // the queue is full: the server is far behind
					}
				}
				time.Sleep(min(interval, 200*time.Microsecond))
			}
		})
	}
	// Progress on stderr.
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(c.every)
		defer tick.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-stopProgress:
				return
			case now := <-tick.C:
				n := done.Load()
				fmt.Fprintf(stderr, "bench: %5.1fs  %8d requests  %7.0f/s  %d errors\n",
					now.Sub(start).Seconds(), n, float64(n-last)/now.Sub(lastAt).Seconds(), failed.Load())
				last, lastAt = n, now
			}
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(stopProgress)
	<-progressDone

	// Merge and report.
	per := make([][]time.Duration, len(names))
	errs := make([]int, len(names))
	counts := make([]int, len(names))
	var all []time.Duration
	for _, r := range recs {
		for _, s := range r.samples {
			counts[s.op]++
			if s.err {
				errs[s.op]++
				continue
			}
			per[s.op] = append(per[s.op], s.d)
			all = append(all, s.d)
		}
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "op\tcount\terrors\tok/s\tp50\tp99\tp999\tmax\t\n")
	row := func(name string, count, nerr int, d []time.Duration) {
		slices.Sort(d)
		fmt.Fprintf(w, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", name, count, nerr, float64(len(d))/elapsed.Seconds(),
			fmtDur(quantile(d, 0.50)), fmtDur(quantile(d, 0.99)), fmtDur(quantile(d, 0.999)), fmtDur(quantile(d, 1)))
	}
	totalErr, total := 0, 0
	for i, name := range names {
		row(name, counts[i], errs[i], per[i])
		totalErr += errs[i]
		total += counts[i]
	}
	row("all", total, totalErr, all)
	w.Flush()
	fmt.Fprintf(stdout, "%s, %v; latency of successful requests, exact percentiles of every recorded duration", mode, elapsed.Round(time.Millisecond))
	if c.rate > 0 {
		fmt.Fprintf(stdout, ", from each request's scheduled start")
	}
	fmt.Fprintln(stdout)
	if exhausted.Load() {
		fmt.Fprintf(stdout, "NOTE: the run stopped early because the pre-minted coupons ran out; pass a larger --coupons\n")
	}
	if n := late.Load(); n > 0 {
		fmt.Fprintf(stdout, "WARNING: %d scheduled requests were dropped: the queue was full, the server could not keep up with --rate %d\n", n, c.rate)
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(stdout, "first error: %s\n", e)
	}
	return nil
}

// quantile is the exact q-quantile (nearest rank) of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func mixString(m map[string]int) string {
	var parts []string
	for _, name := range benchOps {
		if m[name] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, m[name]))
		}
	}
	return strings.Join(parts, ",")
}
