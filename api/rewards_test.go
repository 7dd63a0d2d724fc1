package api_test

import (
	"testing"

	cred "github.com/stampseal/stampseal/credential"
)

// Rewards count against the register key's own budget: a till filling
// cards in a burst is stopped and flagged as an insider, while another
// till of the shop keeps stamping.
func TestRewardBurstIsStoppedAndFlagged(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.must(201, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": sh.id, "id": "one", "stamps_required": 1,
		"reward": "free coffee", "reward_valid_for": "720h", "limits": noLimits})
	_, card := s.card(sh, "one")
	rewards, refused := 0, 0
	for range 5 {
		a := s.do("POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": 60})
		switch a.status {
		case 200:
			rewards += len(a.get("rewards").([]any))
		case 429:
			refused++
			if a.str("error", "code") != "rate_limited" {
				t.Errorf("refused stamp: %s, want rate_limited", a.raw)
			}
		default:
			t.Fatalf("stamp = %d %s", a.status, a.raw)
		}
	}
	if refused == 0 || rewards > 200 {
		t.Fatalf("one till earned %d rewards in 5 quick stamps of 60 with %d refusals; want it stopped after its budget", rewards, refused)
	}
	alerts := s.must(200, "GET", "/v1/alerts?kind=insider", sh.auditor, nil)
	if n := len(alerts.get("alerts").([]any)); n == 0 {
		t.Errorf("no insider alert for the reward burst: %s", alerts.raw)
	}
	other := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": sh.id, "role": "register", "name": "till 2"}).str("token")
	s.must(200, "POST", "/v1/cards/stamp", other, map[string]any{"card_code": card, "stamps": 1})
}

// A program whose limits are all switched off still has a daily ceiling
// per card.
func TestProgramWithoutLimitsHasACeiling(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.must(201, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": sh.id, "id": "big", "stamps_required": 100,
		"reward": "free car", "reward_valid_for": "720h", "limits": noLimits})
	_, card := s.card(sh, "big")
	total := 0
	for total < cred.CeilingPerDay {
		s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": 100})
		total += 100
	}
	if a := s.do("POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": 1}); a.status != 422 || a.str("error", "code") != "limit_exceeded" {
		t.Errorf("stamp %d of the day on a program without limits = %d %s, want 422 limit_exceeded", total+1, a.status, a.raw)
	}
}
