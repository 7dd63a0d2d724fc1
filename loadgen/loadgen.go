// Package loadgen drives a stampseal server over HTTP with a mixed
// workload (verify, redeem, stamp, issue) from many clients, closed or open
// loop, and reports throughput and exact latency percentiles per operation.
package loadgen

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
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
	Progress  time.Duration  // interval of progress lines on stderr
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
func (c *Config) setup(b *benchClient, stderr io.Writer) error {
	start := time.Now()
	rnd := make([]byte, 4)
	rand.Read(rnd)
	b.run = hex.EncodeToString(rnd)
	sh := benchShop{merchant: "bench-" + b.run}
	if err := b.must(201, "/v1/merchants", c.Token, map[string]string{"id": sh.merchant, "name": "Bench Bakery"}, nil); err != nil {
		return err
	}
	key := func(role, name string) (string, error) {
		var k struct{ Token string }
		err := b.must(201, "/v1/apikeys", c.Token, map[string]string{"merchant": sh.merchant, "role": role, "name": name}, &k)
		return k.Token, err
	}
	// Setup mints with keys of its own, at most 1,500 credentials each
	// (below the default burst of the issuance limit).
	var setupIssuers []string
	for i := range (c.Coupons+c.Cards)/1500 + 1 {
		t, err := key("issuer", fmt.Sprintf("bench setup %d", i+1))
		if err != nil {
			return err
		}
		setupIssuers = append(setupIssuers, t)
	}
	for i := range c.Clients {
		t, err := key("issuer", fmt.Sprintf("bench pos %d", i+1))
		if err != nil {
			return err
		}
		sh.issuers = append(sh.issuers, t)
	}
	for i := range c.Registers {
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
	b.pool = make(chan string, c.Coupons+int(float64(max(c.Rate, 4000))*c.Duration.Seconds())+1)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan func() error)
	for range min(c.Clients, 8) {
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
	for left := c.Coupons; left > 0; left -= 1000 {
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
	cards := make([]string, c.Cards)
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

// Bodies of the measured operations: structs, so that encoding them does
// not walk a map.
type (
	codeBody struct {
		Code           string `json:"code"`
		IdempotencyKey string `json:"idempotency_key,omitempty"`
	}
	stampBody struct {
		CardCode       string `json:"card_code"`
		Stamps         int    `json:"stamps"`
		IdempotencyKey string `json:"idempotency_key"`
	}
	issueBody struct {
		Merchant string `json:"merchant"`
		Offer    string `json:"offer"`
		ValidFor string `json:"valid_for"`
		MaxUses  int    `json:"max_uses"`
		Count    int    `json:"count"`
	}
)

// op sends one operation of the mix on c; err is any answer other than
// success.
func (b *benchClient) op(c *conn, name string, rng *mrand.Rand) error {
	register := b.shop.registers[rng.IntN(len(b.shop.registers))]
	key := func() string { return b.run + "-" + strconv.FormatUint(b.ids.Add(1), 36) }
	var (
		path, token string
		body        any
		want        = http.StatusOK
	)
	switch name {
	case "verify":
		path, token, body = "/v1/verify", register, codeBody{Code: b.cards[rng.IntN(len(b.cards))]}
	case "redeem":
		select {
		case code := <-b.pool:
			path, token, body = "/v1/redeem", register, codeBody{Code: code, IdempotencyKey: key()}
		default:
			return errExhausted
		}
	case "stamp":
		path, token, body = "/v1/cards/stamp", register, stampBody{CardCode: b.cards[rng.IntN(len(b.cards))], Stamps: 1, IdempotencyKey: key()}
	case "issue":
		path, token, want = "/v1/coupons", b.shop.issuers[rng.IntN(len(b.shop.issuers))], http.StatusCreated
		body = issueBody{Merchant: b.shop.merchant, Offer: "bench", ValidFor: "168h", MaxUses: 1, Count: 1}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	status, out, err := c.post(path, token, raw)
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("%s answered %d: %.200s", name, status, bytes.TrimSpace(out))
	}
	if name == "issue" {
		var minted struct{ Coupons []benchCredential }
		if json.Unmarshal(out, &minted) == nil {
			for _, cp := range minted.Coupons {
				select {
				case b.pool <- cp.Code:
				default:
				}
			}
		}
	}
	return nil
}

// sample is one finished request.
type sample struct {
	op   uint8
	err  bool
	d    time.Duration // from the scheduled start (open loop) or the send
	late time.Duration // open loop: how late the generator sent it
}

// recorder keeps one client's samples; merged after the run.
type recorder struct {
	samples []sample
	_       [64]byte // keep counters of neighbours off one cache line
}

// Run sets up a merchant on the server at c.Addr, runs the workload and
// prints a table of throughput and latency per operation to stdout.
func Run(c Config, stdout, stderr io.Writer) error {
	return c.run(stdout, stderr)
}

func (c *Config) run(stdout, stderr io.Writer) error {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        c.Clients,
		MaxIdleConnsPerHost: c.Clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	b := &benchClient{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, addr: c.Addr}
	if err := c.setup(b, stderr); err != nil {
		return err
	}
	tr.CloseIdleConnections() // the run dials connections of its own
	// Cumulative weights pick operations.
	var weights []int
	var names []string
	sum := 0
	for _, name := range Ops {
		if w := c.Mix[name]; w > 0 {
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
	recs := make([]recorder, c.Clients)
	exec := func(rec *recorder, cn *conn, rng *mrand.Rand, op uint8, due time.Time) {
		sent := time.Now()
		err := b.op(cn, names[op], rng)
		if errors.Is(err, errExhausted) {
			exhausted.Store(true)
			return
		}
		rec.samples = append(rec.samples, sample{op: op, err: err != nil, d: time.Since(due), late: sent.Sub(due)})
		done.Add(1)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
	}

	mode := fmt.Sprintf("closed loop, %d clients", c.Clients)
	if c.Rate > 0 {
		mode = fmt.Sprintf("open loop, %d requests/s over %d clients", c.Rate, c.Clients)
	}
	fmt.Fprintf(stderr, "bench: %s against %s for %v, mix %s\n", mode, c.Addr, c.Duration, mixString(c.Mix))
	conns := make([]*conn, c.Clients)
	for i := range conns {
		var err error
		if conns[i], err = newConn(c.Addr); err != nil {
			return err
		}
	}
	commitsBefore, commitsErr := scrapeCommits(b.http, c.Addr)
	start := time.Now()
	deadline := start.Add(c.Duration)
	var wg sync.WaitGroup
	// Open loop: request k is due at start + k*interval, whatever the
	// server does. A free client takes the next ticket and sleeps until it
	// is due; latency counts from the due time, so a request that waited
	// for a free client counts its wait (no coordinated omission).
	var tickets atomic.Int64
	var interval time.Duration
	if c.Rate > 0 {
		interval = time.Second / time.Duration(c.Rate)
	}
	for i := range c.Clients {
		cn := conns[i]
		wg.Go(func() {
			defer cn.close()
			rng := mrand.New(mrand.NewPCG(uint64(i), uint64(start.UnixNano())))
			for !exhausted.Load() {
				due := time.Now()
				if interval > 0 {
					due = start.Add(time.Duration(tickets.Add(1)-1) * interval)
				}
				if !due.Before(deadline) {
					return
				}
				if wait := time.Until(due); wait > 0 {
					time.Sleep(wait)
				}
				exec(&recs[i], cn, rng, pickOp(rng), due)
			}
		})
	}
	// Progress on stderr.
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		tick := time.NewTicker(c.Progress)
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
	var all, lateness []time.Duration
	for _, r := range recs {
		for _, s := range r.samples {
			lateness = append(lateness, s.late)
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
	if c.Rate > 0 {
		fmt.Fprintf(stdout, ", from each request's scheduled start")
	}
	fmt.Fprintln(stdout)
	if exhausted.Load() {
		fmt.Fprintf(stdout, "NOTE: the run stopped early because the pre-minted coupons ran out; pass a larger --coupons\n")
	}
	if c.Rate > 0 {
		slices.Sort(lateness)
		fmt.Fprintf(stdout, "sent late by the generator (included above): p50 %s, p99 %s\n", fmtDur(quantile(lateness, 0.5)), fmtDur(quantile(lateness, 0.99)))
	}
	if commitsErr == nil {
		if after, err := scrapeCommits(b.http, c.Addr); err == nil {
			after.report(stdout, commitsBefore, elapsed)
		}
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
	for _, name := range Ops {
		if m[name] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, m[name]))
		}
	}
	return strings.Join(parts, ",")
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
