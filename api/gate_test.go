package api_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/stampseal/stampseal/access"
)

// Failed authentication is throttled per address: past the limit, every
// attempt from that address is refused unchecked, and another address is
// not affected.
func TestKeyGuessingIsThrottledPerAddress(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	for i := range access.DefaultFailureLimit {
		if a := s.do("POST", "/v1/verify", "ssk_guess", map[string]any{"code": "x"}); a.status != 401 {
			t.Fatalf("guess %d = %d, want 401", i, a.status)
		}
	}
	a := s.do("POST", "/v1/verify", sh.register, map[string]any{"code": "x"})
	if a.status != 429 || a.str("error", "code") != "throttled" || a.header.Get("Retry-After") == "" {
		t.Fatalf("the right key from the guessing address = %d %s, want 429 throttled with Retry-After", a.status, a.raw)
	}
	other := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	s.client = other
	if a := s.do("POST", "/v1/verify", sh.register, map[string]any{"code": "x"}); a.status != 200 {
		t.Errorf("the right key from another address = %d %s, want 200", a.status, a.raw)
	}
}
