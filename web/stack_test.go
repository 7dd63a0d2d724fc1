package web_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/internal/testserver"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// stack is a whole stampseal in-process, built as serve builds it: a real
// bbolt file in a temporary directory, real Tink keysets, the API with the
// review page mounted, served by httptest.
type stack struct {
	store    storage.Backend
	access   *access.Service
	issuer   *issuer.Issuer
	verifier *verify.Verifier
	monitor  *fraud.Monitor
	srv      *httptest.Server
	handler  http.Handler            // what srv serves, for a server of a test's own
	failures *access.FailureThrottle // failed sign-ins, shared by the API and the page
}

func newStack(t *testing.T) *stack {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	}
	svc := testserver.Open(t, service.Options{Log: log})
	s := &stack{store: svc.Store, access: svc.Access, issuer: svc.Issuer, verifier: svc.Verifier, monitor: svc.Monitor,
		handler: svc.Handler, failures: svc.Failures}
	s.srv = httptest.NewServer(s.handler)
	t.Cleanup(s.srv.Close)
	return s
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// merchant creates a merchant with keys of the given roles, returning their
// tokens by role.
func (s *stack) merchant(t *testing.T, id, name string, roles ...access.Role) map[access.Role]string {
	t.Helper()
	if _, err := s.access.CreateMerchant(id, name); err != nil {
		t.Fatalf("create merchant %s: %v", id, err)
	}
	out := make(map[access.Role]string)
	for _, r := range roles {
		_, token, err := s.access.CreateKey(id, r, names[r])
		if err != nil {
			t.Fatalf("create %s key: %v", r, err)
		}
		out[r] = token
	}
	return out
}

var names = map[access.Role]string{access.Auditor: "Dana from security", access.Register: "till 1",
	access.Admin: "Owner", access.Issuer: "Front counter"}

// coupon issues one coupon of merchant.
func (s *stack) coupon(t *testing.T, merchant, offer string) credential.Issued {
	t.Helper()
	c, err := s.issuer.Coupons(issuer.CouponRequest{Merchant: merchant, Offer: offer, ValidFor: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatalf("issue coupon: %v", err)
	}
	return c[0]
}

// replay redeems a coupon at two registers, raising a replay alert, and
// returns the alert.
// auditorOnAlert is a stack whose bakery-1 had a coupon replayed, and an
// auditor of bakery-1 signed in on the page of that alert.
func auditorOnAlert(t *testing.T) (s *stack, a fraud.Alert, b *browser, detail page) {
	t.Helper()
	s = newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor)
	a = s.replay(t, "bakery-1")
	b = s.browser(t)
	b.mustLogin(tokens[access.Auditor])
	return s, a, b, b.get("/ui/alerts/" + a.ID)
}

func (s *stack) replay(t *testing.T, merchant string) fraud.Alert {
	t.Helper()
	c := s.coupon(t, merchant, "2 croissants for 1")
	if _, err := s.verifier.Redeem(verify.Request{Merchant: merchant, Code: c.Code, Register: "till-1", IdempotencyKey: c.Serial + "-a"}); err != nil {
		t.Fatalf("first redeem: %v", err)
	}
	_, err := s.verifier.Redeem(verify.Request{Merchant: merchant, Code: c.Code, Register: "till-2", IdempotencyKey: c.Serial + "-b"})
	if !errors.Is(err, verify.ErrAlreadyRedeemed) {
		t.Fatalf("second redeem: got %v, want already redeemed", err)
	}
	list, err := s.monitor.Alerts(merchant, fraud.Filter{Kind: fraud.KindReplay, Status: fraud.StatusOpen})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Serial == c.Serial {
			return a
		}
	}
	t.Fatalf("no replay alert for %s among %d alerts", c.Serial, len(list))
	return fraud.Alert{}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so that tests see them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (s *stack) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: s.srv.URL, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (b *browser) get(path string) page {
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, headers ...string) page {
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page's form.
func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", p.body)
	}
	return m[1]
}

// login signs in with token and returns the answer to the form post.
func (b *browser) login(token string) page {
	b.t.Helper()
	form := b.get("/ui/login")
	return b.post("/ui/login", url.Values{"csrf": {form.csrf(b.t)}, "key": {token}})
}

// mustLogin signs in and returns the alerts page.
func (b *browser) mustLogin(token string) page {
	b.t.Helper()
	p := b.login(token)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/alerts" {
		b.t.Fatalf("login: got %d to %q, want 303 to /ui/alerts; body:\n%s", p.status, p.header.Get("Location"), p.body)
	}
	return b.get("/ui/alerts")
}
