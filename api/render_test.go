package api_test

import (
	"strings"
	"testing"
)

// A till that stamps a card gets the reward's code in the answer (the
// contract); no other till of the merchant may learn it afterwards, neither
// from the card's status nor by rendering the reward's images.
func TestAnotherTillCannotFetchAReward(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", noLimits)
	cardSerial, card := s.card(sh, "coffee")
	earned := s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": 10, "register": "till-1"})
	rewardSerial, rewardCode := earned.str("rewards", "0", "serial"), earned.str("rewards", "0", "code")
	if rewardSerial == "" || rewardCode == "" {
		t.Fatalf("the till that filled the card got no reward code: %s", earned.raw)
	}

	thief := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": sh.id, "role": "register", "name": "till 2"}).str("token")
	st := s.must(200, "GET", "/v1/credentials/"+cardSerial, thief, nil)
	if strings.Contains(string(st.raw), rewardSerial) || strings.Contains(string(st.raw), rewardCode) {
		t.Errorf("card status shown to another till names the reward: %s", st.raw)
	}
	if st.get("rewards", "0", "redeemed") != false {
		t.Errorf("card status no longer says whether the reward was redeemed: %s", st.raw)
	}
	for _, path := range []string{"/barcode.png?symbology=qr", "/barcode.svg", "/barcode.png?symbology=code128", "/card.png"} {
		for _, who := range []struct{ name, token string }{{"another till", thief}, {"the till that earned it", sh.register}} {
			subject := rewardSerial
			if path == "/card.png" {
				subject = cardSerial
			}
			a := s.do("GET", "/v1/credentials/"+subject+path, who.token, nil)
			if a.status != 403 || strings.Contains(string(a.raw), rewardCode) {
				t.Errorf("%s rendering %s = %d, want 403", who.name, path, a.status)
			}
		}
	}
	// The issuer still prints it, and the customer redeems it at a till.
	s.must(200, "GET", "/v1/credentials/"+rewardSerial+"/barcode.svg", sh.issuer, nil)
	s.must(200, "POST", "/v1/redeem", thief, map[string]any{"code": rewardCode, "register": "till-2"})
}

// Every API answer tells browsers not to guess its type.
func TestAnswersCarryNosniff(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	serial, _ := s.coupon(sh, 1)
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/healthz", ""},
		{"GET", "/v1/credentials/" + serial + "/barcode.png", sh.issuer},
		{"GET", "/v1/credentials/" + serial, sh.register},
		{"GET", "/v1/nothing-here", ""},
		{"POST", "/v1/redeem", ""},
	} {
		if a := s.do(c.method, c.path, c.token, nil); a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q, want nosniff", c.method, c.path, a.status, a.header.Get("X-Content-Type-Options"))
		}
	}
}
