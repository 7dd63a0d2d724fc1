package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/web"
)

func TestLogin(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor, access.Admin, access.Register, access.Issuer)
	tests := []struct {
		name       string
		token      string
		wantStatus int
		wantText   string
	}{
		{"auditor key signs in", tokens[access.Auditor], http.StatusSeeOther, ""},
		{"merchant admin key signs in", tokens[access.Admin], http.StatusSeeOther, ""},
		{"unknown key is refused with 401", "ssk_not-a-real-key", http.StatusUnauthorized, "That API key is not valid"},
		{"empty key is refused with 401", "", http.StatusUnauthorized, "Paste an API key"},
		{"register key is refused", tokens[access.Register], http.StatusForbidden, "Only auditor and admin keys"},
		{"issuer key is refused", tokens[access.Issuer], http.StatusForbidden, "Only auditor and admin keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := s.browser(t)
			p := b.login(tt.token)
			if p.status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d; body:\n%s", p.status, tt.wantStatus, p.body)
			}
			if tt.token != "" && strings.Contains(p.body, tt.token) {
				t.Errorf("the page shows the API key")
			}
			if tt.wantStatus != http.StatusSeeOther {
				if !strings.Contains(p.body, tt.wantText) {
					t.Errorf("page lacks %q:\n%s", tt.wantText, p.body)
				}
				if c := sessionCookie(p); c != nil {
					t.Errorf("a refused sign-in set a session cookie")
				}
				if g := b.get("/ui/alerts"); g.status != http.StatusSeeOther {
					t.Errorf("after a refused sign-in, /ui/alerts answered %d, want 303", g.status)
				}
				return
			}
			c := sessionCookie(p)
			switch {
			case c == nil:
				t.Fatal("no session cookie")
			case !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || c.Secure:
				t.Errorf("cookie: got HttpOnly=%v SameSite=%v Path=%q Secure=%v, want HttpOnly, Strict, /ui/, not Secure over plain HTTP",
					c.HttpOnly, c.SameSite, c.Path, c.Secure)
			case len(c.Value) < 43 || strings.Contains(c.Value, tt.token):
				t.Errorf("cookie value %q: want a 256-bit random id, not the key", c.Value)
			}
			alerts := b.get("/ui/alerts")
			if alerts.status != http.StatusOK {
				t.Fatalf("alerts page: got %d, want 200", alerts.status)
			}
			for _, want := range []string{"Corner Bakery", "bakery-1", names[access.Role(roleOf(tokens, tt.token))]} {
				if !strings.Contains(alerts.body, want) {
					t.Errorf("alerts page lacks %q", want)
				}
			}
			if strings.Contains(alerts.body, tt.token) {
				t.Errorf("the alerts page shows the API key")
			}
		})
	}
}

func roleOf(tokens map[access.Role]string, token string) access.Role {
	for r, tk := range tokens {
		if tk == token {
			return r
		}
	}
	return ""
}

func sessionCookie(p page) *http.Cookie {
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == web.SessionCookie && c.Value != "" {
			return c
		}
	}
	return nil
}

func TestLoginFormNeedsItsToken(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor)
	b := s.browser(t)
	// A cross-site form posted straight at /ui/login has no login cookie.
	p := b.post("/ui/login", url.Values{"csrf": {"forged"}, "key": {tokens[access.Auditor]}})
	if p.status != http.StatusForbidden || sessionCookie(p) != nil {
		t.Fatalf("login without its form token: got %d (cookie %v), want 403 and no session", p.status, sessionCookie(p) != nil)
	}
	form := b.get("/ui/login")
	p = b.post("/ui/login", url.Values{"csrf": {form.csrf(t)}, "key": {tokens[access.Auditor]}},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if p.status != http.StatusForbidden {
		t.Fatalf("cross-site login post: got %d, want 403", p.status)
	}
}

func TestSessionRequired(t *testing.T) {
	s := newStack(t)
	s.merchant(t, "bakery-1", "Corner Bakery")
	a := s.replay(t, "bakery-1")
	b := s.browser(t)
	for _, path := range []string{"/ui/", "/ui/alerts", "/ui/alerts/" + a.ID} {
		p := b.get(path)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/login" {
			t.Errorf("GET %s signed out: got %d to %q, want 303 to /ui/login", path, p.status, p.header.Get("Location"))
		}
	}
	for _, path := range []string{"/ui/alerts/" + a.ID + "/resolve", "/ui/credentials/" + a.Serial + "/block", "/ui/logout"} {
		p := b.post(path, url.Values{"csrf": {"x"}, "note": {"n"}, "reason": {"r"}})
		if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/ui/login") {
			t.Errorf("POST %s signed out: got %d to %q, want 303 to /ui/login", path, p.status, p.header.Get("Location"))
		}
	}
	// A forged cookie is no session either.
	u, _ := url.Parse(s.srv.URL + "/ui/")
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Path: "/ui/"}})
	if p := b.get("/ui/alerts"); p.status != http.StatusSeeOther {
		t.Errorf("forged session cookie: got %d, want 303", p.status)
	}
	if got, _ := s.monitor.Alert("bakery-1", a.ID); got.Status != fraud.StatusOpen {
		t.Errorf("alert status: got %q, want open", got.Status)
	}
}

func TestCSRF(t *testing.T) {
	s, a, b, detail := auditorOnAlert(t)
	token := detail.csrf(t)
	resolve := "/ui/alerts/" + a.ID + "/resolve"
	block := "/ui/credentials/" + a.Serial + "/block"
	tests := []struct {
		name    string
		path    string
		form    url.Values
		headers []string
	}{
		{"resolve without a token is refused", resolve, url.Values{"note": {"ok"}}, nil},
		{"resolve with a wrong token is refused", resolve, url.Values{"note": {"ok"}, "csrf": {token + "x"}}, nil},
		{"resolve with an empty token is refused", resolve, url.Values{"note": {"ok"}, "csrf": {""}}, nil},
		{"resolve from another site is refused", resolve, url.Values{"note": {"ok"}, "csrf": {token}},
			[]string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{"block without a token is refused", block, url.Values{"reason": {"copied"}}, nil},
		{"logout without a token is refused", "/ui/logout", url.Values{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.post(tt.path, tt.form, tt.headers...)
			if p.status != http.StatusForbidden {
				t.Fatalf("got %d, want 403; body:\n%s", p.status, p.body)
			}
		})
	}
	if got, _ := s.monitor.Alert("bakery-1", a.ID); got.Status != fraud.StatusOpen {
		t.Errorf("alert status after refused posts: got %q, want open", got.Status)
	}
	if st, _ := s.verifier.Status("bakery-1", a.Serial); st.Status == "blocked" {
		t.Errorf("card blocked by a refused post")
	}
	if p := b.get("/ui/alerts"); p.status != http.StatusOK {
		t.Errorf("session ended by a refused logout: got %d, want 200", p.status)
	}
	// With its token the same resolve goes through.
	p := b.post(resolve, url.Values{"note": {"checked with the till"}, "csrf": {token}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("resolve with token: got %d, want 303; body:\n%s", p.status, p.body)
	}
}

func TestMerchantIsolation(t *testing.T) {
	s := newStack(t)
	s.merchant(t, "bakery-1", "Corner Bakery")
	other := s.merchant(t, "bakery-2", "Other Bakery", access.Auditor)
	a := s.replay(t, "bakery-1")
	b := s.browser(t)
	list := b.mustLogin(other[access.Auditor])
	if strings.Contains(list.body, a.ID) || strings.Contains(list.body, a.Serial) {
		t.Errorf("bakery-2's alert list shows bakery-1's alert")
	}
	if all := b.get("/ui/alerts?status=all"); strings.Contains(all.body, a.Serial) {
		t.Errorf("bakery-2's full alert list shows bakery-1's alert")
	}
	p := b.get("/ui/alerts/" + a.ID)
	if p.status != http.StatusNotFound {
		t.Fatalf("bakery-2 opens bakery-1's alert: got %d, want 404", p.status)
	}
	if strings.Contains(p.body, a.Serial) {
		t.Errorf("the 404 page shows the serial")
	}
	token := list.csrf(t)
	if p := b.post("/ui/alerts/"+a.ID+"/resolve", url.Values{"csrf": {token}, "note": {"not mine"}}); p.status != http.StatusNotFound {
		t.Errorf("bakery-2 resolves bakery-1's alert: got %d, want 404", p.status)
	}
	if p := b.post("/ui/credentials/"+a.Serial+"/block", url.Values{"csrf": {token}, "reason": {"not mine"}}); p.status != http.StatusNotFound {
		t.Errorf("bakery-2 blocks bakery-1's coupon: got %d, want 404", p.status)
	}
	if got, _ := s.monitor.Alert("bakery-1", a.ID); got.Status != fraud.StatusOpen {
		t.Errorf("bakery-1's alert: got status %q, want open", got.Status)
	}
	if st, _ := s.verifier.Status("bakery-1", a.Serial); st.Status == "blocked" {
		t.Errorf("bakery-1's coupon was blocked by bakery-2")
	}
}

func TestResolveAndBlock(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor)
	a := s.replay(t, "bakery-1")
	b := s.browser(t)
	list := b.mustLogin(tokens[access.Auditor])
	if !strings.Contains(list.body, a.Serial) || !strings.Contains(list.body, `sev-medium`) {
		t.Fatalf("alert list lacks the replay alert:\n%s", list.body)
	}
	detail := b.get("/ui/alerts/" + a.ID)
	token := detail.csrf(t)
	resolve := "/ui/alerts/" + a.ID + "/resolve"

	t.Run("an empty note is refused", func(t *testing.T) {
		p := b.post(resolve, url.Values{"csrf": {token}, "note": {"   "}})
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "Write a note") {
			t.Fatalf("got %d, want 422 asking for a note", p.status)
		}
	})
	t.Run("a note over the limit is refused and kept", func(t *testing.T) {
		long := strings.Repeat("x", fraud.MaxNoteLen+1)
		p := b.post(resolve, url.Values{"csrf": {token}, "note": {long}})
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, long) {
			t.Fatalf("got %d, want 422 with the note kept", p.status)
		}
	})
	t.Run("a note resolves the alert with the key's name", func(t *testing.T) {
		p := b.post(resolve, url.Values{"csrf": {token}, "note": {"<b>screenshot</b> of a used coupon"}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/alerts/"+a.ID {
			t.Fatalf("got %d to %q, want 303 to the alert", p.status, p.header.Get("Location"))
		}
		got, _ := s.monitor.Alert("bakery-1", a.ID)
		if got.Status != fraud.StatusResolved || got.Resolution == nil || !strings.HasPrefix(got.Resolution.By, names[access.Auditor]+" (key_") {
			t.Fatalf("alert: got status %q resolution %+v, want resolved by %q", got.Status, got.Resolution, names[access.Auditor])
		}
		page := b.get("/ui/alerts/" + a.ID)
		for _, want := range []string{"Alert resolved.", "&lt;b&gt;screenshot&lt;/b&gt;", `id="alert-status">resolved`} {
			if !strings.Contains(page.body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if again := b.get("/ui/alerts/" + a.ID); strings.Contains(again.body, "Alert resolved.") {
			t.Errorf("the flash message shows twice")
		}
	})
	t.Run("a block without a reason is refused", func(t *testing.T) {
		p := b.post("/ui/credentials/"+a.Serial+"/block", url.Values{"csrf": {token}, "alert": {a.ID}})
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "Write a reason") {
			t.Fatalf("got %d, want 422 asking for a reason", p.status)
		}
	})
	t.Run("a bad serial is not found", func(t *testing.T) {
		p := b.post("/ui/credentials/not-a-serial/block", url.Values{"csrf": {token}, "reason": {"r"}})
		if p.status != http.StatusNotFound {
			t.Fatalf("got %d, want 404", p.status)
		}
	})
	t.Run("a block with a reason blocks the coupon", func(t *testing.T) {
		p := b.post("/ui/credentials/"+strings.ToUpper(a.Serial)+"/block", url.Values{"csrf": {token}, "alert": {a.ID}, "reason": {"copied coupon"}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/alerts/"+a.ID {
			t.Fatalf("got %d to %q, want 303 to the alert", p.status, p.header.Get("Location"))
		}
		if st, err := s.verifier.Status("bakery-1", a.Serial); err != nil || st.Status != "blocked" {
			t.Fatalf("coupon status: got %q (%v), want blocked", st.Status, err)
		}
		page := b.get("/ui/alerts/" + a.ID)
		if !strings.Contains(page.body, "is blocked") || !strings.Contains(page.body, `id="card-status">blocked`) {
			t.Errorf("alert page does not say the card is blocked")
		}
	})
	t.Run("logout ends the session", func(t *testing.T) {
		p := b.post("/ui/logout", url.Values{"csrf": {token}})
		if p.status != http.StatusSeeOther {
			t.Fatalf("logout: got %d, want 303", p.status)
		}
		if p := b.get("/ui/alerts"); p.status != http.StatusSeeOther {
			t.Fatalf("after logout: got %d, want 303", p.status)
		}
	})
}

func TestAlertFilters(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor)
	a := s.replay(t, "bakery-1")
	b := s.browser(t)
	b.mustLogin(tokens[access.Auditor])
	tests := []struct {
		name       string
		query      string
		wantStatus int
		wantAlert  bool
	}{
		{"open alerts by default", "", 200, true},
		{"replay kind", "?kind=replay", 200, true},
		{"another kind", "?kind=counterfeit", 200, false},
		{"at least medium", "?severity=medium", 200, true},
		{"at least high", "?severity=high", 200, false},
		{"resolved only", "?status=resolved", 200, false},
		{"all statuses", "?status=all&kind=&severity=", 200, true},
		{"an unknown status is a bad request", "?status=gone", 400, false},
		{"an unknown kind is a bad request", "?kind=<script>", 400, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := b.get("/ui/alerts" + tt.query)
			if p.status != tt.wantStatus {
				t.Fatalf("status: got %d, want %d", p.status, tt.wantStatus)
			}
			if got := strings.Contains(p.body, a.Serial); got != tt.wantAlert {
				t.Errorf("shows the alert: got %v, want %v", got, tt.wantAlert)
			}
			if strings.Contains(p.body, "<script>") {
				t.Errorf("the page echoes markup unescaped")
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor)
	a := s.replay(t, "bakery-1")
	b := s.browser(t)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	check := func(what string, p page) {
		t.Helper()
		for k, v := range want {
			if got := p.header.Get(k); got != v {
				t.Errorf("%s: %s: got %q, want %q", what, k, got, v)
			}
		}
	}
	check("GET /ui/login", b.get("/ui/login"))
	check("GET /ui/alerts signed out", b.get("/ui/alerts"))
	check("failed login", b.login("wrong"))
	check("login", b.login(tokens[access.Auditor]))
	list := b.get("/ui/alerts")
	check("GET /ui/alerts", list)
	check("GET /ui/alerts/{id}", b.get("/ui/alerts/"+a.ID))
	check("missing alert", b.get("/ui/alerts/0000"))
	check("unknown page", b.get("/ui/nothing/here"))
	check("refused post", b.post("/ui/alerts/"+a.ID+"/resolve", url.Values{}))
	check("resolve", b.post("/ui/alerts/"+a.ID+"/resolve", url.Values{"csrf": {list.csrf(t)}, "note": {"n"}}))
	css := b.get("/ui/static/style.css")
	check("style sheet", css)
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: got %d %q, want 200 text/css", css.status, css.header.Get("Content-Type"))
	}
	if p := b.get("/ui/nothing/here"); p.status != 404 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("unknown page: got %d %q, want a 404 HTML page", p.status, p.header.Get("Content-Type"))
	}
	if p := b.get("/ui"); p.status != http.StatusMovedPermanently || p.header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: got %d to %q, want a redirect to /ui/", p.status, p.header.Get("Location"))
	}
	if p := b.get("/ui/"); p.status != http.StatusFound || p.header.Get("Location") != "/ui/alerts" {
		t.Errorf("GET /ui/: got %d to %q, want a redirect to /ui/alerts", p.status, p.header.Get("Location"))
	}
	if strings.Contains(list.body, "<script") || strings.Contains(list.body, "style=") || strings.Contains(list.body, "http://") || strings.Contains(list.body, "https://") {
		t.Errorf("the page has script, inline style or an external address")
	}
}
