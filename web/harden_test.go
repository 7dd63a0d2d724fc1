package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stampseal/stampseal/access"
)

// Guessing API keys on the sign-in form is throttled per address, and the
// throttle is the API's: after the limit, even a right key from that
// address is refused unchecked, on the page and on the API.
func TestSignInGuessingIsThrottled(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor)
	b := s.browser(t)
	for i := range access.DefaultFailureLimit {
		if p := b.login("ssk_guess-" + strings.Repeat("x", i%7)); p.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: got %d, want 401", i, p.status)
		}
	}
	p := b.login(tokens[access.Auditor])
	if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many failed sign-ins") {
		t.Fatalf("sign-in after %d failures: got %d, want 429 with an explanation", access.DefaultFailureLimit, p.status)
	}
	if c := sessionCookie(p); c != nil {
		t.Error("a throttled sign-in set a session cookie")
	}
	req, _ := http.NewRequest("GET", s.srv.URL+"/v1/alerts", nil)
	req.Header.Set("Authorization", "Bearer "+tokens[access.Auditor])
	if a := b.do(req); a.status != http.StatusTooManyRequests || !strings.Contains(a.body, `"throttled"`) {
		t.Errorf("API call from the throttled address: got %d %s, want 429 throttled", a.status, a.body)
	}
}

// The sign-in form is read before anyone is known: it must be tiny.
func TestSignInFormIsTiny(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	form := b.get("/ui/login")
	p := b.post("/ui/login", url.Values{"csrf": {form.csrf(t)}, "key": {strings.Repeat("k", 3<<10)}})
	if p.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 3 KiB sign-in form: got %d, want 413", p.status)
	}
}

// Served over TLS, the session cookie is Secure.
func TestSessionCookieIsSecureOverTLS(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor)
	srv := httptest.NewTLSServer(s.handler)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := srv.Client()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b := &browser{t: t, base: srv.URL, c: c}
	p := b.login(tokens[access.Auditor])
	sc := sessionCookie(p)
	if p.status != http.StatusSeeOther || sc == nil {
		t.Fatalf("sign-in over TLS: %d, cookie %v", p.status, sc)
	}
	if !sc.Secure {
		t.Error("session cookie over TLS is not Secure")
	}
}
