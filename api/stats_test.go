package api_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stampseal/stampseal/report"
)

// knownDay scripts one day of a bakery over HTTP and returns the figures
// that day must give: every number below follows from the script.
func knownDay(t *testing.T, s *server, sh shop) map[string]any {
	t.Helper()
	s.must(201, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": sh.id, "id": "coffee", "stamps_required": 3,
		"reward": "free coffee", "reward_valid_for": "720h", "limits": noLimits, "value": map[string]any{"amount": 350, "currency": "EUR"}})
	cards := make([]string, 5) // codes of cards A to E; E is never used
	serials := make([]string, 5)
	for i := range cards {
		serials[i], cards[i] = s.card(sh, "coffee")
	}
	stamp := func(card string, n int, till string) answer {
		return s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": n, "register": till})
	}
	redeem := func(code, till string, want int) {
		s.must(want, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": till})
	}
	// A: two visits at till-1, 1 + 2 stamps: one reward, redeemed at till-1.
	stamp(cards[0], 1, "till-1")
	ra := stamp(cards[0], 2, "till-1").str("rewards", "0", "code")
	// B: two visits at till-2, 3 + 1 stamps: one reward, kept.
	stamp(cards[1], 3, "till-2")
	stamp(cards[1], 1, "till-2")
	// C: one visit at till-1, 1 stamp; later blocked.
	stamp(cards[2], 1, "till-1")
	// D: one visit at till-2, a punch of 3 stamps claimed: one reward, kept.
	punch := s.must(201, "POST", "/v1/punches", sh.issuer, map[string]any{"merchant": sh.id, "program": "coffee", "stamps": 3})
	s.must(200, "POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": cards[3], "punch_code": punch.str("code"), "register": "till-2"})
	redeem(ra, "till-1", 200)

	// Campaigns: 4 croissant coupons worth 1.20 EUR, 2 cake coupons without a value.
	croissants := s.must(201, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "croissant", "count": 4,
		"value": map[string]any{"amount": 120, "currency": "EUR"}})
	cakes := s.must(201, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "cake", "count": 2})
	redeem(croissants.str("coupons", "0", "code"), "till-2", 200)
	redeem(croissants.str("coupons", "1", "code"), "till-2", 200)
	redeem(cakes.str("coupons", "0", "code"), "till-1", 200)

	// Refusals: a croissant and the reward again, a malformed code, a stamp on a blocked card.
	redeem(croissants.str("coupons", "0", "code"), "till-2", 409)
	redeem(ra, "till-3", 409)
	redeem("NOT-A-CODE", "till-3", 422)
	s.must(200, "POST", "/v1/credentials/"+serials[2]+"/block", sh.auditor, map[string]any{"reason": "copied"})
	s.must(422, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": cards[2], "stamps": 1, "register": "till-1"})

	// Alerts are whatever the fraud module raised for the above, by kind.
	s.fraud.Flush()
	alerts := map[string]any{}
	for _, a := range s.must(200, "GET", "/v1/alerts?merchant="+sh.id, sh.auditor, nil).get("alerts").([]any) {
		k := a.(map[string]any)["kind"].(string)
		n, _ := alerts[k].(float64)
		alerts[k] = n + 1
	}
	if len(alerts) == 0 {
		t.Fatal("the script raised no alert; the figure would not be checked")
	}
	eur := func(n float64) []any { return []any{map[string]any{"amount": n, "currency": "EUR"}} }
	today := time.Now().UTC().Format(time.DateOnly)
	return map[string]any{
		"merchant":                   sh.id,
		"cards_issued":               5.0,
		"active_cards":               4.0,
		"stamps":                     11.0,
		"rewards_earned":             3.0,
		"rewards_redeemed":           1.0,
		"rewards_outstanding":        2.0,
		"rewards_earned_value":       eur(1050),
		"rewards_redeemed_value":     eur(350),
		"rewards_outstanding_value":  eur(700),
		"coupons_issued":             6.0,
		"coupons_redeemed":           3.0,
		"coupons_redeemed_value":     eur(240),
		"redemption_rate":            0.5,
		"repeat_visit_rate":          0.5,
		"median_days_between_visits": 0.0, // A's and B's visits were seconds apart
		"campaigns": []any{
			map[string]any{"offer": "cake", "coupons_issued": 2.0, "coupons_redeemed": 1.0, "redemption_rate": 0.5, "redeemed_value": []any{}},
			map[string]any{"offer": "croissant", "coupons_issued": 4.0, "coupons_redeemed": 2.0, "redemption_rate": 0.5, "redeemed_value": eur(240)},
		},
		"registers": []any{
			map[string]any{"register": "till-1", "stamps": 4.0, "redemptions": 2.0},
			map[string]any{"register": "till-2", "stamps": 7.0, "redemptions": 2.0},
		},
		"refused":       map[string]any{"already_redeemed": 2.0, "malformed": 1.0, "blocked": 1.0},
		"refused_value": eur(470),
		"alerts":        alerts,
		"blocks":        1.0,
		"blocked_cards": 1.0,
		"today": map[string]any{"day": today, "cards_issued": 5.0, "stamps": 11.0, "redemptions": 4.0,
			"rewards_outstanding": 2.0, "alerts": sum(alerts), "refused": 4.0},
	}
}

func sum(m map[string]any) float64 {
	n := 0.0
	for _, v := range m {
		n += v.(float64)
	}
	return n
}

// checkFigures compares every figure of a /stats answer with want.
func checkFigures(t *testing.T, got answer, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if k == "today" {
			days := got.get("days").([]any)
			if g := days[len(days)-1]; !reflect.DeepEqual(g, w) {
				t.Errorf("today's figures = %v; want %v", g, w)
			}
			continue
		}
		if g := got.get(k); !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("%s = %s; want %s", k, gj, wj)
		}
	}
}

func TestStatsOfAKnownDay(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery")
	other := s.shop("other")
	want := knownDay(t, s, sh)
	path := "/v1/merchants/bakery/stats"

	got := s.must(200, "GET", path, sh.auditor, nil)
	checkFigures(t, got, want)
	if days := got.get("days").([]any); len(days) != report.DefaultWindow {
		t.Errorf("the default window has %d days; want %d", len(days), report.DefaultWindow)
	}
	checkFigures(t, s.must(200, "GET", path, sh.admin, nil), want)
	checkFigures(t, s.must(200, "GET", path, adminToken, nil), want)

	// The figures come from the ledger: a restart rebuilds the same ones.
	s.restart()
	checkFigures(t, s.must(200, "GET", path, sh.auditor, nil), want)

	// Another merchant's figures are untouched, and yesterday had nothing.
	if o := s.must(200, "GET", "/v1/merchants/other/stats", other.admin, nil); o.get("stamps") != 0.0 || o.get("cards_issued") != 0.0 {
		t.Errorf("other merchant's figures: %s", o.raw)
	}
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	y := s.must(200, "GET", path+"?from="+yesterday+"&to="+yesterday, sh.auditor, nil)
	if y.get("stamps") != 0.0 || y.get("rewards_outstanding") != 0.0 || len(y.get("days").([]any)) != 1 {
		t.Errorf("yesterday's figures: %s", y.raw)
	}

	for name, c := range map[string]struct {
		path, token string
		want        int
	}{
		"a register key answers 403":              {path, sh.register, 403},
		"an issuer key answers 403":               {path, sh.issuer, 403},
		"another merchant's auditor answers 403":  {path, other.auditor, 403},
		"no key answers 401":                      {path, "", 401},
		"a window ending before it starts is 400": {path + "?from=2026-02-01&to=2026-01-01", sh.auditor, 400},
		"a window of ten years is 400":            {path + "?from=2016-01-01&to=2026-01-01", sh.auditor, 400},
		"a malformed time is 400":                 {path + "?from=yesterday", sh.auditor, 400},
		"an RFC 3339 window is 200":               {path + "?from=2026-01-01T00:00:00Z&to=2026-01-31T23:59:59Z", sh.auditor, 200},
	} {
		t.Run(name, func(t *testing.T) { s.must(c.want, "GET", c.path, c.token, nil) })
	}
}
