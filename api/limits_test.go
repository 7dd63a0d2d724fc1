package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRequestsBeyondTheCapAreTurnedAway holds the only slot with a request
// whose body never finishes, and checks the next request is answered 503
// at once instead of queueing.
func TestRequestsBeyondTheCapAreTurnedAway(t *testing.T) {
	s := newServer(t, func(s *server) { s.maxInFlight = 1 })
	sh := s.shop("bakery-1")

	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest("POST", s.url+"/v1/verify", pr)
	req.Header.Set("Authorization", "Bearer "+sh.register)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write([]byte(`{"code": "SS1:`)) // returns once the transport is sending the body
	// The held request is now inside the server (it sent headers and part of a body).
	var got answer
	for i := 0; i < 200; i++ {
		got = s.do("GET", "/v1/credentials/00000000000000000000000000000000", sh.register, nil)
		if got.status == http.StatusServiceUnavailable {
			break
		}
	}
	if got.status != http.StatusServiceUnavailable || got.str("error", "code") != "overloaded" || got.header.Get("Retry-After") == "" {
		t.Fatalf("request beyond the cap = %d %s; want 503 overloaded with Retry-After", got.status, got.raw)
	}
	pw.Write([]byte(strings.Repeat(" ", 10) + `"}`))
	pw.Close()
}
