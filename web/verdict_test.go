package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stampseal/stampseal/fraud"
)

func TestResolveWithVerdictShowsPrecision(t *testing.T) {
	s, a, b, detail := auditorOnAlert(t)
	token := detail.csrf(t)
	resolve := "/ui/alerts/" + a.ID + "/resolve"
	if p := b.post(resolve, url.Values{"note": {"x"}, "verdict": {"perhaps"}, "csrf": {token}}); p.status != http.StatusUnprocessableEntity {
		t.Fatalf("resolve with an unknown verdict: got %d, want 422", p.status)
	}
	if p := b.post(resolve, url.Values{"note": {"customer tried twice"}, "verdict": {"confirmed_fraud"}, "csrf": {token}}); p.status != http.StatusSeeOther {
		t.Fatalf("resolve with a verdict: got %d, want 303; body:\n%s", p.status, p.body)
	}
	got, _ := s.monitor.Alert("bakery-1", a.ID)
	if got.Resolution == nil || got.Resolution.Verdict != fraud.VerdictConfirmedFraud {
		t.Fatalf("resolution = %+v, want verdict confirmed_fraud", got.Resolution)
	}
	page := b.get("/ui/alerts?status=all")
	if !strings.Contains(page.body, `id="detector-stats"`) || !strings.Contains(page.body, `<tr data-kind="replay"><td>`) || !strings.Contains(page.body, "100%") {
		t.Errorf("alerts page lacks the replay detector's precision of 100%%:\n%s", page.body)
	}
}
