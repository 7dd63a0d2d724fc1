package web_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stampseal/stampseal/internal/testserver"

	"github.com/stampseal/stampseal/access"
)

func TestAllMerchantsAdminPicksAMerchant(t *testing.T) {
	s := newStack(t)
	s.merchant(t, "bakery-1", "Corner Bakery")
	s.merchant(t, "bakery-2", "Station Bakery")
	b := s.browser(t)
	p := b.login(testserver.AdminToken)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/ui/merchant" {
		t.Fatalf("sign-in: %d to %q; want 303 to the merchant picker", p.status, p.header.Get("Location"))
	}
	for _, path := range []string{"/ui/alerts", "/ui/owner", "/ui/owner/keys"} {
		if g := b.get(path); g.status != http.StatusSeeOther || g.header.Get("Location") != "/ui/merchant" {
			t.Errorf("%s before a merchant is picked: %d to %q; want 303 to the picker", path, g.status, g.header.Get("Location"))
		}
	}
	pick := b.get("/ui/merchant")
	if pick.status != 200 || !strings.Contains(pick.body, "Station Bakery") || !strings.Contains(pick.body, "Corner Bakery") {
		t.Fatalf("picker: %d\n%s", pick.status, pick.body)
	}
	if got := b.post("/ui/merchant", url.Values{"csrf": {pick.csrf(t)}, "merchant": {"nowhere"}}); got.status != http.StatusNotFound {
		t.Errorf("picking an unknown merchant: %d; want 404", got.status)
	}
	if got := b.post("/ui/merchant", url.Values{"csrf": {pick.csrf(t)}, "merchant": {"bakery-2"}}); got.status != http.StatusSeeOther {
		t.Fatalf("pick: %d\n%s", got.status, got.body)
	}
	over := b.get("/ui/owner")
	if over.status != 200 || !strings.Contains(over.body, "Station Bakery") {
		t.Fatalf("overview after the pick: %d", over.status)
	}
	if keys := b.get("/ui/owner/keys"); keys.status != 200 {
		t.Errorf("the all-merchants admin's keys page: %d", keys.status)
	}

	// A merchant's own admin has no picker; its auditor reads but does not change.
	tokens := s.merchant(t, "bakery-3", "Harbour Bakery", access.Admin, access.Auditor)
	a := s.browser(t)
	a.mustLogin(tokens[access.Admin])
	if g := a.get("/ui/merchant"); g.status != http.StatusSeeOther {
		t.Errorf("a merchant admin's picker: %d; want a redirect away", g.status)
	}
	aud := s.browser(t)
	aud.mustLogin(tokens[access.Auditor])
	progs := aud.get("/ui/owner/programs")
	if progs.status != 200 || strings.Contains(progs.body, `id="new-program"`) {
		t.Errorf("auditor's programs page: %d, with a create form: %v", progs.status, strings.Contains(progs.body, `id="new-program"`))
	}
	if got := aud.post("/ui/owner/programs", url.Values{"csrf": {progs.csrf(t)}, "id": {"x"}, "stamps_required": {"5"}, "reward": {"r"}, "valid_days": {"30"}}); got.status != http.StatusForbidden {
		t.Errorf("auditor creating a program: %d; want 403", got.status)
	}
	for _, path := range []string{"/ui/owner/keys", "/ui/owner/export/keys.csv"} {
		if got := aud.get(path); got.status != http.StatusForbidden {
			t.Errorf("auditor GET %s: %d; want 403", path, got.status)
		}
	}
	if got := aud.get("/ui/owner/export/nothing.csv"); got.status != http.StatusNotFound {
		t.Errorf("unknown table: %d", got.status)
	}
	if got := aud.get("/ui/owner?from=yesterday"); got.status != http.StatusBadRequest {
		t.Errorf("bad window: %d", got.status)
	}
}

func TestCSVCellsAreNotFormulas(t *testing.T) {
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Admin)
	b := s.browser(t)
	b.mustLogin(tokens[access.Admin])
	progs := b.get("/ui/owner/programs")
	form := url.Values{"csrf": {progs.csrf(t)}, "id": {"coffee"}, "stamps_required": {"10"}, "reward": {"=HYPERLINK(\"http://evil\")"},
		"valid_days": {"30"}, "amount": {"3.50"}, "currency": {"eur"}}
	if got := b.post("/ui/owner/programs", form); got.status != http.StatusSeeOther {
		t.Fatalf("create program: %d\n%s", got.status, got.body)
	}
	if again := b.post("/ui/owner/programs", form); again.status != http.StatusConflict {
		t.Errorf("the same program again: %d; want 409", again.status)
	}
	bad := url.Values{"csrf": {progs.csrf(t)}, "id": {"tea"}, "stamps_required": {"10"}, "reward": {"tea"}, "valid_days": {"30"}, "amount": {"3.505"}, "currency": {"EUR"}}
	if got := b.post("/ui/owner/programs", bad); got.status != http.StatusBadRequest {
		t.Errorf("three decimals: %d; want 400", got.status)
	}
	c := b.get("/ui/owner/export/programs.csv")
	if c.status != 200 || !strings.HasPrefix(c.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s", c.status, c.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(c.body)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv rows = %v, %v", rows, err)
	}
	if got := rows[1]; got[0] != "coffee" || got[2] != `'=HYPERLINK("http://evil")` || got[4] != "350" || got[5] != "EUR" {
		t.Errorf("program row = %q", got)
	}
}
