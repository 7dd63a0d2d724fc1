package api_test

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestRequestsBeyondTheCapAreTurnedAway holds the only slot with a request
// whose body never finishes, and checks the next request is answered 503
// at once instead of queueing.
func TestRequestsBeyondTheCapAreTurnedAway(t *testing.T) {
	s := newServer(t, func(s *server) { s.maxInFlight = 1 })
	sh := s.shop("bakery-1")

	var got answer
	for attempt := 0; attempt < 20 && got.status != http.StatusServiceUnavailable; attempt++ {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", s.url+"/v1/verify", pr)
		req.Header.Set("Authorization", "Bearer "+sh.register)
		held := make(chan int, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				held <- 0
				return
			}
			resp.Body.Close()
			held <- resp.StatusCode
		}()
		pw.Write([]byte(`{"code": "SS1:`)) // returns once the transport sends the body
		time.Sleep(20 * time.Millisecond)
		select {
		case <-held: // the held request itself met a busy slot: try again
			pw.Close()
			continue
		default:
		}
		got = s.do("GET", "/v1/credentials/00000000000000000000000000000000", sh.register, nil)
		pw.Write([]byte(`"}`))
		pw.Close()
		<-held
	}
	if got.status != http.StatusServiceUnavailable || got.str("error", "code") != "overloaded" || got.header.Get("Retry-After") == "" {
		t.Fatalf("request beyond the cap = %d %s; want 503 overloaded with Retry-After", got.status, got.raw)
	}
}
