package api_test

import (
	"fmt"
	"testing"
)

func TestAuditorReadsAndPagesACardsHistory(t *testing.T) {
	s := newServer(t)
	a, b := s.shop("bakery-a"), s.shop("bakery-b")
	s.program(a, "coffee", map[string]int{"per_request": 5, "per_hour": 0, "per_day": 0})
	serial, card := s.card(a, "coffee")
	const stamps = 7
	for i := 0; i < stamps; i++ {
		s.must(200, "POST", "/v1/cards/stamp", a.register, map[string]any{"card_code": card, "stamps": 1,
			"register": fmt.Sprint("till-", i), "idempotency_key": fmt.Sprint("sale-", i)})
	}
	whole := s.must(200, "GET", "/v1/credentials/"+serial, a.auditor, nil)
	if n := len(whole.get("history").([]any)); n != stamps || whole.str("next") != "" {
		t.Fatalf("auditor reads %d entries, next %q; want %d and no next: %s", n, whole.str("next"), stamps, whole.raw)
	}
	s.must(200, "GET", "/v1/credentials/"+serial, a.admin, nil)
	s.must(200, "GET", "/v1/credentials/"+serial+"?merchant=bakery-a", adminToken, nil)
	s.must(404, "GET", "/v1/credentials/"+serial, b.auditor, nil)
	s.must(403, "GET", "/v1/credentials/"+serial, a.issuer, nil)

	// Pages of 3, newest first, each page oldest first, until no next.
	var pages [][]any
	path := "/v1/credentials/" + serial + "?limit=3"
	for i := 0; i < 5; i++ {
		got := s.must(200, "GET", path, a.auditor, nil)
		pages = append(pages, got.get("history").([]any))
		next := got.str("next")
		if next == "" {
			break
		}
		path = "/v1/credentials/" + serial + "?limit=3&before=" + next
	}
	if len(pages) != 3 || len(pages[0]) != 3 || len(pages[1]) != 3 || len(pages[2]) != 1 {
		t.Fatalf("pages of sizes %v; want 3, 3, 1", sizes(pages))
	}
	var joined []any
	for i := len(pages) - 1; i >= 0; i-- {
		joined = append(joined, pages[i]...)
	}
	for i, e := range joined {
		if got := e.(map[string]any)["register"]; got != fmt.Sprint("till-", i) {
			t.Errorf("entry %d of the paged history is from %v, want till-%d", i, got, i)
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "before=x", "before=0"} {
		if got := s.do("GET", "/v1/credentials/"+serial+"?"+q, a.auditor, nil); got.status != 400 {
			t.Errorf("?%s = %d, want 400", q, got.status)
		}
	}
}

func sizes(pages [][]any) []int {
	var out []int
	for _, p := range pages {
		out = append(out, len(p))
	}
	return out
}
