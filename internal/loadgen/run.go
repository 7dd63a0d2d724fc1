package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stampseal/stampseal/client"
)

// benchClient sends the workload's requests: setup through the typed
// client, the measured operations on raw keep-alive connections (conn.go)
// so that the generator costs as little as it can.
type benchClient struct {
	api   *client.Client // as the all-merchants admin
	http  *http.Client
	ids   atomic.Uint64
	run   string // random per run, in idempotency keys
	shop  benchShop
	pool  chan string // unredeemed coupon codes
	cards []string
	// roaming: cards go to any register, not their home one (Config.Roaming)
	roaming bool
}

// card picks a card and the register it is presented at: its home one
// unless b.roaming.
func (b *benchClient) card(rng *mrand.Rand, register string) (code, at string) {
	i := rng.IntN(len(b.cards))
	if !b.roaming {
		register = b.shop.registers[i%len(b.shop.registers)]
	}
	return b.cards[i], register
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
		card, at := b.card(rng, register)
		path, token, body = "/v1/verify", at, codeBody{Code: card}
	case "redeem":
		select {
		case code := <-b.pool:
			path, token, body = "/v1/redeem", register, codeBody{Code: code, IdempotencyKey: key()}
		default:
			return errExhausted
		}
	case "stamp":
		card, at := b.card(rng, register)
		path, token, body = "/v1/cards/stamp", at, stampBody{CardCode: card, Stamps: 1, IdempotencyKey: key()}
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
		var minted client.CouponBatch
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

func (c *Config) run(stdout, stderr io.Writer) error {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        c.Clients,
		MaxIdleConnsPerHost: c.Clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	api, err := client.New(c.Addr, client.WithToken(c.Token), client.WithHTTPClient(hc), client.WithUserAgent("stampseal-bench"))
	if err != nil {
		return err
	}
	b := &benchClient{api: api, http: hc, roaming: c.Roaming}
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
	commitsBefore, commitsErr := scrapeCommits(b.api)
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

	c.report(stdout, mode, elapsed, names, recs, exhausted.Load(), firstErr.Load(), b, commitsBefore, commitsErr)
	return nil
}
