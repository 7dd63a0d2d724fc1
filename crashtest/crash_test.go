package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// request is one redemption or stamp as a client sent it; sending it again
// (same idempotency key) is a retry.
type request struct {
	stamp    bool // a stamp on a card, else a redemption of a coupon
	serial   string
	code     string
	token    string
	register string // unique per request, so the ledger's history names it
	key      string // idempotency key, unique per request
	stamps   int
}

func (r request) path() string {
	if r.stamp {
		return "/v1/cards/stamp"
	}
	return "/v1/redeem"
}

func (r request) body() map[string]any {
	if r.stamp {
		return map[string]any{"card_code": r.code, "stamps": r.stamps, "register": r.register, "idempotency_key": r.key}
	}
	return map[string]any{"code": r.code, "register": r.register, "idempotency_key": r.key}
}

// tally is what the clients know of one credential.
type tally struct {
	coupon  bool
	maxUses int
	// acked are the requests answered 200, with their answers.
	acked    []request
	answers  [][]byte
	usesLeft map[int]bool // uses_left values in 200 answers: each exactly once
	// lost are the requests sent in the round just killed that got no
	// answer: each may or may not have been applied.
	lost []request
}

func (t *tally) ackedStamps() (n int) {
	for _, r := range t.acked {
		n += r.stamps
	}
	return n
}

func (t *tally) lostStamps() (n int) {
	for _, r := range t.lost {
		n += r.stamps
	}
	return n
}

// crashRun is the clients' side of the test.
type crashRun struct {
	t      *testing.T
	client *http.Client
	shop   shop

	mu       sync.Mutex
	creds    map[string]*tally
	coupons  []issued // every coupon minted, oldest first
	cards    []issued
	problems []string // unexpected answers seen by the clients
}

func (c *crashRun) record(r request, a answer, err error) (ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tl := c.creds[r.serial]
	switch {
	case err != nil:
		tl.lost = append(tl.lost, r)
	case a.status == http.StatusOK:
		tl.acked = append(tl.acked, r)
		tl.answers = append(tl.answers, a.raw)
		if tl.coupon {
			var res struct {
				UsesLeft int `json:"uses_left"`
			}
			if err := json.Unmarshal(a.raw, &res); err != nil {
				c.problems = append(c.problems, fmt.Sprintf("POST %s for %s answered 200 %s: %v", r.path(), r.serial, a.raw, err))
			}
			if tl.usesLeft[res.UsesLeft] {
				c.problems = append(c.problems, fmt.Sprintf("coupon %s: two redemptions answered uses_left %d", r.serial, res.UsesLeft))
			}
			tl.usesLeft[res.UsesLeft] = true
		}
		return true
	case a.status == http.StatusConflict && !r.stamp && a.errCode() == "already_redeemed":
	default:
		c.problems = append(c.problems, fmt.Sprintf("POST %s for %s answered %d %s", r.path(), r.serial, a.status, a.raw))
	}
	return false
}

// track adds fresh coupons (of three uses where threeUses says so for
// their index, else single-use) and fresh cards to what the clients tally.
func (c *crashRun) track(coupons, cards []issued, threeUses func(i int) bool) {
	for i, cp := range coupons {
		tl := &tally{coupon: true, maxUses: 1, usesLeft: map[int]bool{}}
		if threeUses(i) {
			tl.maxUses = 3
		}
		c.creds[cp.Serial] = tl
		c.coupons = append(c.coupons, cp)
	}
	for _, cd := range cards {
		c.creds[cd.Serial] = &tally{}
		c.cards = append(c.cards, cd)
	}
}

// killSoon lets the load run for 10 to 300 ms, then kills the server with
// SIGKILL, and says how long it ran; a server that died by itself before
// fails the test.
func killSoon(t testing.TB, srv *server, round int) time.Duration {
	t.Helper()
	killAfter := time.Duration(10+rand.IntN(291)) * time.Millisecond
	time.Sleep(killAfter)
	if srv.exited() {
		t.Fatalf("round %d: the server died before the kill (%v); log:\n%s", round, srv.err, srv.logTail())
	}
	srv.kill()
	return killAfter
}

// roundStats counts one round's requests.
type roundStats struct {
	sent, acked, refused, lost atomic.Int64
}

// count files one answer: err for none (lost).
func (s *roundStats) count(a answer, err error) {
	switch {
	case err != nil:
		s.lost.Add(1)
	case a.status == 200:
		s.acked.Add(1)
	default:
		s.refused.Add(1)
	}
}

// draw is client w's request number seq of a round: a redemption of a
// coupon (55 in 100) or one to three stamps on a card, with a register
// label and an idempotency key of its own; mostly of this round's fresh
// credentials (pick).
func (c *crashRun) draw(rng *rand.Rand, round, w, seq int, fresh, freshCards []issued) request {
	r := request{token: c.shop.registers[rng.IntN(len(c.shop.registers))],
		register: fmt.Sprintf("r%d-%d-%d", round, w, seq), key: fmt.Sprintf("k%d-%d-%d", round, w, seq)}
	if rng.IntN(100) < 55 {
		cp := pick(rng, fresh, c.coupons)
		r.serial, r.code = cp.Serial, cp.Code
	} else {
		cd := pick(rng, freshCards, c.cards)
		r.stamp, r.serial, r.code, r.stamps = true, cd.Serial, cd.Code, 1+rng.IntN(3)
	}
	return r
}

// TestCrashKeepsEveryAcknowledgedWrite kills the server with SIGKILL in the
// middle of concurrent redemptions and stamps, restarts it on the same data
// directory and checks the ledger against what the clients were told.
func TestCrashKeepsEveryAcknowledgedWrite(t *testing.T) {
	rounds := crashRounds(t)
	const clients = 32
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data)
	run := &crashRun{t: t, client: newClient(clients), creds: map[string]*tally{}}
	run.shop = setupShop(t, srv, run.client, "crash-bakery", 4)
	reader := run.shop.registers[0]

	var total struct{ sent, acked, refused, lost, retriedApplied, retriedRefused, committedUnanswered int64 }
	for round := 1; round <= rounds; round++ {
		// Fresh credentials each round keep most requests doing real work;
		// old ones stay in play for a fifth of the requests. A new issuer
		// key each round stays within the server's per-key issuance limit.
		run.shop.issuer = apiKey(t, srv, run.client, run.shop.merchant, "issuer", fmt.Sprintf("pos round %d", round))
		fresh := slices.Concat(run.shop.coupons(t, srv, run.client, 1, 60), run.shop.coupons(t, srv, run.client, 3, 30))
		var freshCards []issued
		for range 24 {
			freshCards = append(freshCards, run.shop.card(t, srv, run.client))
		}
		base := len(run.coupons)
		run.track(fresh, freshCards, func(i int) bool { return (base+i)%90 >= 60 })

		var stats roundStats
		var stop atomic.Bool
		var wg sync.WaitGroup
		for w := range clients {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for seq := 0; !stop.Load(); seq++ {
					r := run.draw(rng, round, w, seq, fresh, freshCards)
					stats.sent.Add(1)
					a, err := call(context.Background(), run.client, "POST", srv.base+r.path(), r.token, r.body())
					stats.count(a, err)
					run.record(r, a, err)
					if err != nil {
						return // the server is gone
					}
				}
			})
		}
		killAfter := killSoon(t, srv, round)
		stop.Store(true)
		wg.Wait()
		srv.stop()
		run.client.CloseIdleConnections()

		restartAt := time.Now()
		srv = startServer(t, data)
		restart := time.Since(restartAt)

		run.mu.Lock()
		problems := run.problems
		run.mu.Unlock()
		if len(problems) > 0 {
			t.Fatalf("round %d: unexpected answers (%d), first: %s", round, len(problems), problems[0])
		}
		// Before any retry: the ledger holds every acknowledged write, and
		// at most the unanswered ones besides.
		extraUses, extraStamps := run.checkLedger(srv, reader, round, false)
		applied, refused := run.retryLost(srv, round)
		run.retryAcked(srv, round, 20)
		// After the retries every request is settled: the ledger is exact.
		run.checkLedger(srv, reader, round, true)

		t.Logf("round %2d: killed after %3v, sent %5d, 200 %5d, refused %5d, unanswered %2d (in the ledger already: %d uses, %d stamps; on retry: %d answered 200, %d refused), restart %v",
			round, killAfter, stats.sent.Load(), stats.acked.Load(), stats.refused.Load(), stats.lost.Load(), extraUses, extraStamps, applied, refused, restart.Round(time.Millisecond))
		total.committedUnanswered += int64(extraUses + extraStamps)
		total.sent += stats.sent.Load()
		total.acked += stats.acked.Load()
		total.refused += stats.refused.Load()
		total.lost += stats.lost.Load()
		total.retriedApplied += int64(applied)
		total.retriedRefused += int64(refused)
	}
	t.Logf("%d rounds: sent %d, answered 200 %d, refused %d, unanswered at a kill %d (uses+stamps already in the ledger: %d; retried: %d answered 200, %d refused); %d coupons, %d cards checked",
		rounds, total.sent, total.acked, total.refused, total.lost, total.committedUnanswered, total.retriedApplied, total.retriedRefused, len(run.coupons), len(run.cards))
}

// pick takes from fresh four times in five, else from all.
func pick(rng *rand.Rand, fresh, all []issued) issued {
	if rng.IntN(5) > 0 {
		return fresh[rng.IntN(len(fresh))]
	}
	return all[rng.IntN(len(all))]
}

// checkLedger compares every credential's ledger entry with the clients'
// tallies. Before retries (exact false) unanswered requests may or may not
// be in the ledger; after them (exact true) there are none.
//
// It returns how many uses and stamps the ledger holds beyond the
// acknowledged ones: unanswered requests that were applied before the kill.
func (c *crashRun) checkLedger(srv *server, token string, round int, exact bool) (extraUses, extraStamps int) {
	t := c.t
	t.Helper()
	serials := make([]string, 0, len(c.creds))
	for s := range c.creds {
		serials = append(serials, s)
	}
	slices.Sort(serials)
	ledger := srv.ledger(t, c.client, token, serials)
	when := "after the restart"
	if exact {
		when = "after retrying unanswered requests"
	}
	for _, serial := range serials {
		tl, e := c.creds[serial], ledger[serial]
		if exact && len(tl.lost) > 0 {
			t.Fatalf("round %d: %s still has unsettled requests", round, serial)
		}
		var registers []string
		if tl.coupon {
			uses := tl.maxUses - e.UsesLeft
			acked, lost := len(tl.acked), len(tl.lost)
			if acked > tl.maxUses {
				t.Errorf("round %d: coupon %s (max_uses %d) answered 200 to %d redemptions", round, serial, tl.maxUses, acked)
			}
			if uses < acked || uses > acked+lost {
				t.Errorf("round %d, %s: coupon %s (max_uses %d) has %d uses in the ledger; clients got %d answers 200 and %d no answer",
					round, when, serial, tl.maxUses, uses, acked, lost)
			}
			extraUses += uses - acked
			if len(e.History) != uses {
				t.Errorf("round %d, %s: coupon %s has %d uses but %d history entries", round, when, serial, uses, len(e.History))
			}
			for _, h := range e.History {
				registers = append(registers, h.Register)
			}
		} else {
			got, acked, lost := e.StampsTotal, tl.ackedStamps(), tl.lostStamps()
			extraStamps += got - acked
			if got < acked || got > acked+lost {
				t.Errorf("round %d, %s: card %s has stamps_total %d; clients got 200 for %d stamps and no answer for %d",
					round, when, serial, got, acked, lost)
			}
			// The status lists the newest 200 entries: check the rest only
			// when nothing was cut.
			if len(e.History) >= 200 {
				continue
			}
			sum := 0
			for _, h := range e.History {
				if h.Op == "stamp" {
					sum += h.Stamps
					registers = append(registers, h.Register)
				}
			}
			if sum != got {
				t.Errorf("round %d, %s: card %s has stamps_total %d but its history adds up to %d", round, when, serial, got, sum)
			}
		}
		slices.Sort(registers)
		for _, r := range tl.acked {
			if _, found := slices.BinarySearch(registers, r.register); !found {
				t.Errorf("round %d, %s: %s acknowledged %s (register %s) but its history does not have it", round, when, serial, r.path(), r.register)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return extraUses, extraStamps
}

// retryLost sends every unanswered request again with its idempotency key:
// if it was applied before the kill the first answer comes back, else it is
// applied now (or refused, a coupon being used up meanwhile).
func (c *crashRun) retryLost(srv *server, round int) (applied, refused int) {
	t := c.t
	t.Helper()
	var lost []request
	for _, tl := range c.creds {
		lost = append(lost, tl.lost...)
		tl.lost = nil
	}
	for _, r := range lost {
		a, err := call(context.Background(), c.client, "POST", srv.base+r.path(), r.token, r.body())
		if err != nil {
			t.Fatalf("round %d: retry of %s for %s: %v", round, r.path(), r.serial, err)
		}
		if c.record(r, a, nil) {
			applied++
		} else {
			refused++
		}
	}
	if len(c.problems) > 0 {
		t.Fatalf("round %d: retries of unanswered requests: %s", round, c.problems[0])
	}
	return applied, refused
}

// retryAcked sends n acknowledged requests again: each must give its first
// answer back and change nothing (checkLedger then sees the same counts).
func (c *crashRun) retryAcked(srv *server, round, n int) {
	t := c.t
	t.Helper()
	for _, serial := range c.sampleAcked(n) {
		tl := c.creds[serial]
		i := len(tl.acked) - 1
		r := tl.acked[i]
		a, err := call(context.Background(), c.client, "POST", srv.base+r.path(), r.token, r.body())
		if err != nil {
			t.Fatalf("round %d: retry of %s for %s: %v", round, r.path(), serial, err)
		}
		if a.status != 200 || !bytes.Equal(bytes.TrimSpace(a.raw), bytes.TrimSpace(tl.answers[i])) {
			t.Fatalf("round %d: retry of an acknowledged %s for %s answered %d %s; want the first answer %s",
				round, r.path(), serial, a.status, a.raw, tl.answers[i])
		}
	}
}

func (c *crashRun) sampleAcked(n int) []string {
	var out []string
	for serial, tl := range c.creds {
		if len(tl.acked) > 0 {
			out = append(out, serial)
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))]
}
