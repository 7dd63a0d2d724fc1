package api_test

import (
	"fmt"
	"sync"
	"testing"
)

func (s *server) program(sh shop, id string, limits map[string]int) {
	s.t.Helper()
	body := map[string]any{"merchant": sh.id, "id": id, "stamps_required": 10, "reward": "free coffee", "reward_valid_for": "720h"}
	if limits != nil {
		body["limits"] = limits
	}
	s.must(201, "POST", "/v1/programs", sh.issuer, body)
}

func (s *server) card(sh shop, program string) (serial, code string) {
	s.t.Helper()
	a := s.must(201, "POST", "/v1/cards", sh.issuer, map[string]any{"merchant": sh.id, "program": program})
	if a.str("kind") != "card" {
		s.t.Fatalf("card = %s", a.raw)
	}
	return a.str("serial"), a.str("code")
}

var noLimits = map[string]int{"per_request": 0, "per_hour": 0, "per_day": 0}

func TestTenStampsEarnOneRewardThatRedeemsOnce(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", noLimits)
	serial, code := s.card(sh, "coffee")
	var last answer
	for i := 1; i <= 10; i++ {
		last = s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": 1, "register": "till-3", "idempotency_key": fmt.Sprint("sale-", i)})
		if rewards := last.get("rewards").([]any); (i < 10 && len(rewards) != 0) || (i == 10 && len(rewards) != 1) {
			t.Fatalf("stamp %d: rewards %v", i, rewards)
		}
	}
	if last.str("stamps") != "0" || last.str("stamps_required") != "10" || last.str("serial") != serial {
		t.Errorf("after ten stamps: %s; want 0 of 10 on the card", last.raw)
	}
	reward := last.str("rewards", "0", "code")
	// A retry of the tenth stamp gives the same answer, not a second reward.
	retry := s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": 1, "register": "till-3", "idempotency_key": "sale-10"})
	if string(retry.raw) != string(last.raw) {
		t.Errorf("retried tenth stamp = %s; want %s", retry.raw, last.raw)
	}
	st := s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
	if st.str("stamps") != "0" || st.str("stamps_total") != "10" || len(st.get("rewards").([]any)) != 1 {
		t.Errorf("card status = %s; want 0 stamps now, 10 in total, one reward", st.raw)
	}
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": reward, "register": "till-3"})
	s.must(409, "POST", "/v1/redeem", sh.register, map[string]any{"code": reward, "register": "till-3"})
	st = s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
	if st.get("rewards", "0", "redeemed") != true {
		t.Errorf("card status after redeeming the reward = %s", st.raw)
	}
}

func TestConcurrentStampsAreExact(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", noLimits)
	serial, code := s.card(sh, "coffee")
	var mu sync.Mutex
	rewards := map[string]bool{}
	accepted := 0
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := s.do("POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": 1, "register": fmt.Sprint("till-", i%20), "idempotency_key": fmt.Sprint("k", i)})
			if a.status != 200 {
				t.Errorf("stamp: %d %s", a.status, a.raw)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			accepted++
			for _, r := range a.get("rewards").([]any) {
				rewards[r.(map[string]any)["serial"].(string)] = true
			}
		}()
	}
	wg.Wait()
	st := s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
	if st.str("stamps_total") != fmt.Sprint(accepted) || len(rewards) != accepted/10 || st.str("stamps") != fmt.Sprint(accepted%10) {
		t.Errorf("40 concurrent stamps from 20 tills: accepted %d, card %s, %d distinct rewards; want total %d and %d rewards",
			accepted, st.raw, len(rewards), accepted, accepted/10)
	}
}

func TestPunches(t *testing.T) {
	s := newServer(t)
	sh, other := s.shop("bakery-1"), s.shop("bakery-2")
	s.program(sh, "coffee", nil)
	s.program(sh, "bread", nil)
	s.program(other, "coffee", nil)
	serial, card := s.card(sh, "coffee")
	punch := func(sh shop, program string, stamps int) string {
		return s.must(201, "POST", "/v1/punches", sh.issuer, map[string]any{"merchant": sh.id, "program": program, "stamps": stamps, "valid_for": "72h"}).str("code")
	}
	p := punch(sh, "coffee", 3)
	got := s.must(200, "POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": card, "punch_code": p, "register": "till-1"})
	if got.str("stamps") != "3" {
		t.Errorf("claim of a 3-stamp punch: %s", got.raw)
	}
	again := s.must(409, "POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": card, "punch_code": p, "register": "till-2"})
	if again.str("error", "code") != "already_redeemed" {
		t.Errorf("second claim: %s", again.raw)
	}
	if a := s.do("POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": card, "punch_code": punch(sh, "bread", 1)}); a.status != 422 || a.str("error", "code") != "wrong_program" {
		t.Errorf("punch of another program: %d %s", a.status, a.raw)
	}
	if a := s.do("POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": card, "punch_code": punch(other, "coffee", 1)}); a.status != 422 || a.str("error", "code") != "wrong_merchant" {
		t.Errorf("punch of another merchant: %d %s", a.status, a.raw)
	}
	if a := s.do("POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": p, "punch_code": card}); a.status != 422 || a.str("error", "code") != "wrong_kind" {
		t.Errorf("card and punch swapped: %d %s", a.status, a.raw)
	}
	st := s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
	if st.str("stamps") != "3" || st.str("history", "0", "source") != "punch" {
		t.Errorf("card after one claim = %s", st.raw)
	}
}

func TestStampLimits(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", map[string]int{"per_request": 5, "per_hour": 0, "per_day": 8})
	_, code := s.card(sh, "coffee")
	stamp := func(n int) answer {
		return s.do("POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": n})
	}
	if a := stamp(6); a.status != 422 || a.str("error", "code") != "limit_exceeded" {
		t.Errorf("6 stamps with per_request 5: %d %s", a.status, a.raw)
	}
	if a := stamp(5); a.status != 200 {
		t.Errorf("5 stamps: %d %s", a.status, a.raw)
	}
	if a := stamp(3); a.status != 200 {
		t.Errorf("3 more stamps (8 in the day): %d %s", a.status, a.raw)
	}
	a := stamp(1)
	if a.status != 422 || a.str("error", "code") != "limit_exceeded" || a.str("error", "message") == "" {
		t.Errorf("a ninth stamp in a day with per_day 8: %d %s", a.status, a.raw)
	}
}

func TestLedgerSurvivesRestart(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", nil)
	serial, code := s.card(sh, "coffee")
	s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": 4})
	s.restart()
	a := s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": 1})
	st := s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
	if a.str("stamps") != "5" || st.str("stamps_total") != "5" || len(st.get("history").([]any)) != 2 {
		t.Errorf("after restart: stamp %s, status %s", a.raw, st.raw)
	}
}
