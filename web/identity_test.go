package web_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
)

func TestRevokedKeyEndsItsSession(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor, access.Admin)
	b := s.browser(t)
	b.mustLogin(tokens[access.Auditor])
	if p := b.get("/ui/alerts"); p.status != http.StatusOK {
		t.Fatalf("alerts before revocation: %d", p.status)
	}
	auditor := keyNamed(t, s, "bakery-1", names[access.Auditor])
	if _, err := s.access.Revoke(audit.Actor{Name: "test"}, auditor.ID, "left the company"); err != nil {
		t.Fatal(err)
	}
	// The very next request of the session is refused and the session ends.
	p := b.get("/ui/alerts")
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "revoked") {
		t.Fatalf("alerts after revocation: %d, want 401 saying revoked; body:\n%s", p.status, p.body)
	}
	if p := b.get("/ui/alerts"); p.status != http.StatusSeeOther {
		t.Errorf("the ended session still answers %d, want 303 to sign-in", p.status)
	}
	// Nor can the key sign in again.
	if p := b.login(tokens[access.Auditor]); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "revoked") {
		t.Errorf("sign-in with a revoked key: %d; body:\n%s", p.status, p.body)
	}
	// A form post of an old session is refused too.
	b2 := s.browser(t)
	page := b2.mustLogin(tokens[access.Admin])
	admin := keyNamed(t, s, "bakery-1", names[access.Admin])
	if _, err := s.access.Revoke(audit.Actor{Name: "test"}, admin.ID, "rotated"); err != nil {
		t.Fatal(err)
	}
	if p := b2.post("/ui/logout", map[string][]string{"csrf": {page.csrf(t)}}); p.status != http.StatusUnauthorized {
		t.Errorf("post with a revoked key's session: %d, want 401", p.status)
	}
}

func TestExpiredKeyEndsItsSession(t *testing.T) {
	s := newStack(t)
	var mu sync.Mutex
	now := time.Now()
	s.access.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	if _, err := s.access.CreateMerchant("bakery-1", "Corner Bakery"); err != nil {
		t.Fatal(err)
	}
	_, token, err := s.access.CreateKeyAs(audit.Operator, access.KeySpec{Merchant: "bakery-1", Role: access.Auditor, Name: "temp", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.mustLogin(token)
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if p := b.get("/ui/alerts"); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "expired") {
		t.Fatalf("alerts after expiry: %d, want 401 saying expired; body:\n%s", p.status, p.body)
	}
}

func TestAuditTrailPageShowsSignInsAndActions(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor)
	s.merchant(t, "bakery-2", "Other Bakery", access.Auditor)
	c := s.coupon(t, "bakery-1", "free coffee")
	b := s.browser(t)
	alerts := b.mustLogin(tokens[access.Auditor])
	p := b.post("/ui/credentials/"+c.Serial+"/block", map[string][]string{"csrf": {alerts.csrf(t)}, "reason": {"copied"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("block: %d\n%s", p.status, p.body)
	}
	page := b.get("/ui/audit")
	if page.status != http.StatusOK {
		t.Fatalf("audit page: %d", page.status)
	}
	for _, want := range []string{`data-action="review_signed_in"`, `data-action="credential_blocked"`, c.Serial,
		names[access.Auditor], `data-action="merchant_created"`, "copied"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "bakery-2") || strings.Contains(page.body, tokens[access.Auditor]) {
		t.Errorf("audit page shows another merchant's entries or the key")
	}
	if strings.Index(page.body, "credential_blocked") > strings.Index(page.body, "review_signed_in") {
		t.Errorf("audit page is not newest first")
	}
	if p := s.browser(t).get("/ui/audit"); p.status != http.StatusSeeOther {
		t.Errorf("audit page without a session: %d, want 303", p.status)
	}
}

func keyNamed(t *testing.T, s *stack, merchant, name string) access.KeyInfo {
	t.Helper()
	list, err := s.access.Keys(merchant)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range list {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no key %q", name)
	return access.KeyInfo{}
}

func TestRootLeadsToTheReviewPage(t *testing.T) {
	s := newStack(t)
	b := s.browser(t)
	p := b.get("/")
	if p.status != http.StatusFound || p.header.Get("Location") != "/ui/" {
		t.Errorf("GET / = %d to %q, want 302 to /ui/", p.status, p.header.Get("Location"))
	}
	if p := b.get("/nothing-here"); p.status != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", p.status)
	}
}

func TestBlockThenUnblockFromTheAlertPage(t *testing.T) {
	s, a, b, detail := auditorOnAlert(t)
	token := detail.csrf(t)
	if strings.Contains(detail.body, `id="unblock-form"`) {
		t.Fatal("an unblocked card's alert page offers to unblock it")
	}
	if p := b.post("/ui/credentials/"+a.Serial+"/block", map[string][]string{"csrf": {token}, "alert": {a.ID}, "reason": {"copied"}}); p.status != http.StatusSeeOther {
		t.Fatalf("block: %d", p.status)
	}
	page := b.get("/ui/alerts/" + a.ID)
	if !strings.Contains(page.body, `id="unblock-form"`) {
		t.Fatalf("a blocked card's alert page lacks the unblock form:\n%s", page.body)
	}
	if p := b.post("/ui/credentials/"+a.Serial+"/unblock", map[string][]string{"csrf": {token}, "alert": {a.ID}, "reason": {" "}}); p.status != http.StatusUnprocessableEntity {
		t.Errorf("unblock without a reason: %d, want 422", p.status)
	}
	p := b.post("/ui/credentials/"+a.Serial+"/unblock", map[string][]string{"csrf": {token}, "alert": {a.ID}, "reason": {"the customer showed the original"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/alerts/"+a.ID {
		t.Fatalf("unblock: %d to %q", p.status, p.header.Get("Location"))
	}
	if st, err := s.verifier.Status("bakery-1", a.Serial); err != nil || st.Status == "blocked" {
		t.Errorf("after unblock the card is %q (%v)", st.Status, err)
	}
	if p := b.post("/ui/credentials/"+a.Serial+"/unblock", map[string][]string{"csrf": {token}, "alert": {a.ID}, "reason": {"again"}}); p.status != http.StatusNotFound {
		t.Errorf("unblocking a card that is not blocked: %d, want 404", p.status)
	}
	trail := b.get("/ui/audit")
	for _, want := range []string{`data-action="credential_blocked"`, `data-action="credential_unblocked"`, "the customer showed the original"} {
		if !strings.Contains(trail.body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
}
