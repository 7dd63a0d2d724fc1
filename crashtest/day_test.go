package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// sale is one coupon taken through a till's day: hold, confirm, and for
// every other coupon a void, each step with what the client was told.
type sale struct {
	c        issued
	token    string
	wantVoid bool

	mu                              sync.Mutex
	started                         bool
	holdID                          string
	redemptionID                    string
	confirmAns, voidAns             []byte
	holdLost, confirmLost, voidLost bool
}

func (s *sale) holdBody() map[string]any {
	return map[string]any{"code": s.c.Code, "register": "till", "ttl": "30m", "idempotency_key": "hold-" + s.c.Serial}
}
func (s *sale) confirmBody() map[string]any {
	return map[string]any{"idempotency_key": "pay-" + s.c.Serial}
}
func (s *sale) voidBody() map[string]any { return map[string]any{"reason": "refund"} }

// step sends one step of the sale and records its answer; it reports
// whether the next step may follow. A step with no answer is lost.
func (s *sale) step(ctx context.Context, srv *server, run *dayRun, which string) bool {
	var path string
	var body map[string]any
	switch which {
	case "hold":
		path, body = "/v1/reservations", s.holdBody()
	case "confirm":
		path, body = "/v1/reservations/"+s.holdID+"/confirm", s.confirmBody()
	case "void":
		path, body = "/v1/redemptions/"+s.redemptionID+"/void", s.voidBody()
	}
	a, err := call(ctx, run.client, "POST", srv.base+path, s.token, body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		switch which {
		case "hold":
			s.holdLost = true
		case "confirm":
			s.confirmLost = true
		case "void":
			s.voidLost = true
		}
		return false
	}
	want := 200
	if which == "hold" {
		want = 201
	}
	if a.status != want {
		run.problem("%s of %s answered %d %s", which, s.c.Serial, a.status, a.raw)
		return false
	}
	var res struct {
		ReservationID string `json:"reservation_id"`
		RedemptionID  string `json:"redemption_id"`
	}
	json.Unmarshal(a.raw, &res)
	switch which {
	case "hold":
		s.holdLost, s.holdID = false, res.ReservationID
	case "confirm":
		if s.confirmAns != nil && !bytes.Equal(s.confirmAns, a.raw) {
			run.problem("confirm of %s answered %s, then %s", s.c.Serial, s.confirmAns, a.raw)
		}
		s.confirmLost, s.confirmAns, s.redemptionID = false, a.raw, res.RedemptionID
	case "void":
		if s.voidAns != nil && !bytes.Equal(s.voidAns, a.raw) {
			run.problem("void of %s answered %s, then %s", s.c.Serial, s.voidAns, a.raw)
		}
		s.voidLost, s.voidAns = false, a.raw
	}
	return true
}

// finish takes the sale from where it stopped to its end.
func (s *sale) finish(srv *server, run *dayRun) {
	ctx := context.Background()
	if s.holdID == "" && !s.step(ctx, srv, run, "hold") {
		return
	}
	if s.redemptionID == "" && !s.step(ctx, srv, run, "confirm") {
		return
	}
	if s.wantVoid && s.voidAns == nil {
		s.step(ctx, srv, run, "void")
	}
}

type dayRun struct {
	t        *testing.T
	client   *http.Client
	mu       sync.Mutex
	problems []string
}

func (r *dayRun) problem(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// TestCrashDuringConfirmAndVoidKeepsTheLedgerConsistent kills the server
// with SIGKILL while tills hold, confirm and void coupons, restarts it, and
// checks each coupon's ledger against the answers the tills got: every
// acknowledged confirm and void is there under the id it was answered
// with, nothing is there twice, and retries of the unanswered steps settle
// every sale exactly.
func TestCrashDuringConfirmAndVoidKeepsTheLedgerConsistent(t *testing.T) {
	rounds := crashRounds(t)
	const clients = 32
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data)
	client := newClient(clients)
	run := &dayRun{t: t, client: client}
	sh := setupShop(t, srv, client, "day-bakery", 4)
	var all []*sale
	for round := 1; round <= rounds; round++ {
		sh.issuer = apiKey(t, srv, client, sh.merchant, "issuer", fmt.Sprintf("pos round %d", round))
		var sales []*sale
		for i, c := range sh.coupons(t, srv, client, 1, 600) {
			sales = append(sales, &sale{c: c, token: sh.registers[i%len(sh.registers)], wantVoid: i%2 == 0})
		}
		all = append(all, sales...)
		work := make(chan *sale, len(sales))
		for _, s := range sales {
			work <- s
		}
		close(work)
		var wg sync.WaitGroup
		var gone atomic.Bool
		for range clients {
			wg.Go(func() {
				for s := range work {
					if gone.Load() {
						return
					}
					s.mu.Lock()
					s.started = true
					s.mu.Unlock()
					ok := s.step(context.Background(), srv, run, "hold") && s.step(context.Background(), srv, run, "confirm")
					if ok && s.wantVoid {
						ok = s.step(context.Background(), srv, run, "void")
					}
					if !ok {
						gone.Store(true)
						return
					}
				}
			})
		}
		killAfter := killSoon(t, srv, round)
		gone.Store(true)
		wg.Wait()
		srv.stop()
		client.CloseIdleConnections()
		srv = startServer(t, data)

		lost := checkSales(t, srv, sh.registers[0], all, round, false)
		for _, s := range all {
			if s.started {
				s.finish(srv, run)
			}
		}
		// Acknowledged answers come back unchanged on a retry.
		for _, s := range all[:20] {
			if s.confirmAns != nil {
				s.step(context.Background(), srv, run, "confirm")
			}
			if s.voidAns != nil {
				s.step(context.Background(), srv, run, "void")
			}
		}
		if len(run.problems) > 0 {
			t.Fatalf("round %d: %d unexpected answers, first: %s", round, len(run.problems), run.problems[0])
		}
		checkSales(t, srv, sh.registers[0], all, round, true)
		started := 0
		for _, s := range sales {
			if s.started {
				started++
			}
		}
		t.Logf("round %d: killed after %v with %d of %d sales started; unanswered steps: %v", round, killAfter, started, len(sales), lost)
	}
}

// checkSales compares every coupon's ledger with its sale. Before the
// retries (exact false) an unanswered step may or may not be in it.
func checkSales(t *testing.T, srv *server, token string, sales []*sale, round int, exact bool) (lost map[string]int) {
	lost = map[string]int{}
	t.Helper()
	serials := make([]string, len(sales))
	for i, s := range sales {
		serials[i] = s.c.Serial
	}
	ledger := srv.ledger(t, newClient(16), token, serials)
	for _, s := range sales {
		e := ledger[s.c.Serial]
		count := map[string]int{}
		var redeemID, voided string
		for _, h := range e.History {
			count[h.Op]++
			switch h.Op {
			case "redeem":
				redeemID = h.ID
			case "void":
				voided = h.Voids
			}
		}
		for step, l := range map[string]bool{"hold": s.holdLost, "confirm": s.confirmLost, "void": s.voidLost} {
			if l {
				lost[step]++
			}
		}
		var problems []string
		check := func(ok bool, format string, args ...any) {
			if !ok {
				problems = append(problems, fmt.Sprintf(format, args...))
			}
		}
		between := func(n int, acked, unanswered bool) bool {
			switch {
			case acked:
				return n == 1
			case unanswered && !exact:
				return n <= 1
			}
			return n == 0
		}
		check(between(count["reserve"], s.holdID != "", s.holdLost), "%d holds", count["reserve"])
		check(between(count["redeem"], s.confirmAns != nil, s.confirmLost), "%d redemptions", count["redeem"])
		check(between(count["void"], s.voidAns != nil, s.voidLost), "%d voids", count["void"])
		if s.confirmAns != nil {
			check(redeemID == s.redemptionID, "redemption %q in the ledger, %q answered", redeemID, s.redemptionID)
		}
		if s.voidAns != nil {
			check(voided == s.redemptionID, "the void names %q, the redemption was %q", voided, s.redemptionID)
		}
		check(e.UsesLeft == 1-count["redeem"]+count["void"], "uses_left %d with %d redemptions and %d voids", e.UsesLeft, count["redeem"], count["void"])
		if exact && s.started {
			want := 0
			if s.wantVoid {
				want = 1
			}
			check(count["redeem"] == 1 && count["void"] == want, "settled sale has %d redemptions and %d voids", count["redeem"], count["void"])
		}
		if len(problems) > 0 {
			t.Errorf("round %d (exact %v): coupon %s: %v; history %+v", round, exact, s.c.Serial, problems, e.History)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return lost
}
