package api_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestValueOnCouponsAndPrograms(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery")
	a := s.must(201, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": sh.id, "id": "coffee", "stamps_required": 2,
		"reward": "free coffee", "value": map[string]any{"amount": 350, "currency": "EUR"}})
	if got := a.str("value", "amount") + " " + a.str("value", "currency"); got != "350 EUR" {
		t.Fatalf("program value = %q; want 350 EUR", got)
	}
	for name, v := range map[string]map[string]any{
		"lower-case currency answers 400":     {"amount": 1, "currency": "eur"},
		"two-letter currency answers 400":     {"amount": 1, "currency": "EU"},
		"negative amount answers 400":         {"amount": -1, "currency": "EUR"},
		"amount beyond the bound answers 400": {"amount": 1_000_000_001, "currency": "EUR"},
	} {
		t.Run(name, func(t *testing.T) {
			s.must(400, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "x", "value": v})
			s.must(400, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": sh.id, "id": "p" + fmt.Sprint(len(name)), "stamps_required": 2, "reward": "r", "value": v})
		})
	}
	c := s.must(201, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "croissant", "count": 2,
		"value": map[string]any{"amount": 120, "currency": "EUR"}})
	list := s.must(200, "GET", "/v1/credentials?merchant=bakery&kind=coupon", sh.auditor, nil)
	items, _ := list.get("credentials").([]any)
	if len(items) != 2 {
		t.Fatalf("listed %d coupons; want 2: %s", len(items), list.raw)
	}
	if got := list.str("credentials", "0", "value", "amount"); got != "120" {
		t.Errorf("listed coupon value = %q; want 120", got)
	}
	if strings.Contains(string(list.raw), c.str("coupons", "0", "code")) || strings.Contains(string(list.raw), `"code"`) {
		t.Errorf("a list carries a code: %s", list.raw)
	}
	// A reward earned on a card carries the program's value.
	card := s.must(201, "POST", "/v1/cards", sh.issuer, map[string]any{"merchant": sh.id, "program": "coffee"})
	st := s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card.str("code"), "stamps": 2, "register": "till-1"})
	reward := st.str("rewards", "0", "serial")
	if reward == "" {
		t.Fatalf("no reward: %s", st.raw)
	}
	rewards := s.must(200, "GET", "/v1/credentials?merchant=bakery&kind=coupon&limit=500", sh.admin, nil)
	found := false
	for _, it := range rewards.get("credentials").([]any) {
		c := it.(map[string]any)
		if c["serial"] == reward {
			found = true
			if v, _ := c["value"].(map[string]any); v["amount"] != 350.0 || v["currency"] != "EUR" || c["reward_of"] != card.str("serial") {
				t.Errorf("listed reward = %v; want the program's value 350 EUR, reward of the card", c)
			}
		}
	}
	if !found {
		t.Errorf("the reward %s is not listed: %s", reward, rewards.raw)
	}
}

func TestListsArePagedAndScoped(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery")
	other := s.shop("other")
	for i := range 5 {
		s.must(201, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": sh.id, "id": fmt.Sprintf("p%d", i), "stamps_required": 5, "reward": "r"})
	}
	s.must(201, "POST", "/v1/programs", other.issuer, map[string]any{"merchant": other.id, "id": "theirs", "stamps_required": 5, "reward": "r"})
	var ids []string
	cursor := ""
	for range 10 {
		a := s.must(200, "GET", "/v1/programs?merchant=bakery&limit=2&cursor="+cursor, sh.auditor, nil)
		for _, p := range a.get("programs").([]any) {
			ids = append(ids, p.(map[string]any)["id"].(string))
		}
		if cursor = a.str("next_cursor"); cursor == "" {
			break
		}
	}
	if got := strings.Join(ids, ","); got != "p0,p1,p2,p3,p4" {
		t.Errorf("paged programs = %s; want p0..p4 once each", got)
	}

	serials := map[string]bool{}
	for range 7 {
		a := s.must(201, "POST", "/v1/cards", sh.issuer, map[string]any{"merchant": sh.id, "program": "p0"})
		serials[a.str("serial")] = true
	}
	s.must(201, "POST", "/v1/cards", other.issuer, map[string]any{"merchant": other.id, "program": "theirs"})
	seen := map[string]bool{}
	cursor = ""
	for range 10 {
		a := s.must(200, "GET", "/v1/credentials?merchant=bakery&kind=card&status=active&limit=3&cursor="+cursor, sh.issuer, nil)
		for _, c := range a.get("credentials").([]any) {
			serial := c.(map[string]any)["serial"].(string)
			if seen[serial] || !serials[serial] {
				t.Errorf("serial %s listed twice or not the merchant's", serial)
			}
			seen[serial] = true
		}
		if cursor = a.str("next_cursor"); cursor == "" {
			break
		}
	}
	if len(seen) != 7 {
		t.Errorf("listed %d cards; want 7", len(seen))
	}
	if a := s.must(200, "GET", "/v1/credentials?merchant=bakery&status=redeemed", sh.auditor, nil); len(a.get("credentials").([]any)) != 0 {
		t.Errorf("redeemed filter lists %s", a.raw)
	}

	for name, c := range map[string]struct {
		path, token string
		want        int
	}{
		"a register key may not list":                {"/v1/credentials?merchant=bakery", sh.register, 403},
		"another merchant's auditor may not list":    {"/v1/credentials?merchant=bakery", other.auditor, 403},
		"another merchant's issuer sees no programs": {"/v1/programs?merchant=bakery", other.issuer, 403},
		"no key answers 401":                         {"/v1/programs?merchant=bakery", "", 401},
		"a bad kind answers 400":                     {"/v1/credentials?merchant=bakery&kind=voucher", sh.admin, 400},
		"a bad status answers 400":                   {"/v1/credentials?merchant=bakery&status=gone", sh.admin, 400},
		"a bad limit answers 400":                    {"/v1/credentials?merchant=bakery&limit=0", sh.admin, 400},
		"a bad cursor answers 400":                   {"/v1/credentials?merchant=bakery&cursor=zz", sh.admin, 400},
		"no merchant answers 400":                    {"/v1/programs", adminToken, 400},
		"the all-merchants admin may list":           {"/v1/credentials?merchant=bakery", adminToken, 200},
	} {
		t.Run(name, func(t *testing.T) { s.must(c.want, "GET", c.path, c.token, nil) })
	}
}
