package web_test

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stampseal/stampseal/access"
)

// OwnerShotsEnv names a directory where TestOwnerInBrowser also writes its
// screenshots (desktop and phone), to look at them:
//
//	STAMPSEAL_OWNER_SHOTS=/tmp/owner-shots go test -run TestOwnerInBrowser ./web/
const OwnerShotsEnv = "STAMPSEAL_OWNER_SHOTS"

// TestOwnerInBrowser scripts a day over HTTP, then drives the owner's
// pages in headless Chromium: sign in with the merchant's admin key, read
// the overview's figures and charts, create a program, revoke a key and
// download a CSV, at desktop and phone sizes.
func TestOwnerInBrowser(t *testing.T) {
	chromium := findChromium(t)
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Admin, access.Issuer, access.Register)
	base, iss, reg := s.srv.URL, tokens[access.Issuer], tokens[access.Register]
	call := func(path, token string, body map[string]any, want int) map[string]any {
		t.Helper()
		st, out := apiCall(t, base, path, token, body)
		if st != want {
			t.Fatalf("POST %s: %d %v; want %d", path, st, out, want)
		}
		return out
	}
	// The day: 3 cards; 9 stamps (3 + 3 + 2 + 1); one full card's reward
	// redeemed at till-2; 2 croissant coupons, one redeemed, then again (refused).
	call("/v1/programs", iss, map[string]any{"merchant": "bakery-1", "id": "coffee", "stamps_required": 6, "reward": "free coffee",
		"value": map[string]any{"amount": 350, "currency": "EUR"}, "limits": map[string]int{}}, 201)
	var cards []string
	for range 3 {
		cards = append(cards, call("/v1/cards", iss, map[string]any{"merchant": "bakery-1", "program": "coffee"}, 201)["code"].(string))
	}
	call("/v1/cards/stamp", reg, map[string]any{"card_code": cards[0], "stamps": 3, "register": "till-1"}, 200)
	full := call("/v1/cards/stamp", reg, map[string]any{"card_code": cards[0], "stamps": 3, "register": "till-1"}, 200)
	reward := full["rewards"].([]any)[0].(map[string]any)["code"].(string)
	call("/v1/cards/stamp", reg, map[string]any{"card_code": cards[1], "stamps": 2, "register": "till-2"}, 200)
	call("/v1/cards/stamp", reg, map[string]any{"card_code": cards[2], "stamps": 1, "register": "till-2"}, 200)
	call("/v1/redeem", reg, map[string]any{"code": reward, "register": "till-2"}, 200)
	coupons := call("/v1/coupons", iss, map[string]any{"merchant": "bakery-1", "offer": "croissant", "count": 2,
		"value": map[string]any{"amount": 120, "currency": "EUR"}}, 201)["coupons"].([]any)
	croissant := coupons[0].(map[string]any)["code"].(string)
	call("/v1/redeem", reg, map[string]any{"code": croissant, "register": "till-1"}, 200)
	call("/v1/redeem", reg, map[string]any{"code": croissant, "register": "till-3"}, 409)

	ctx, must := newBrowser(t, chromium, 90*time.Second, 1280)
	submit := func(what, sel string, want int64) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
		must(what, err)
		if resp.Status != want {
			t.Fatalf("%s: page answered %d, want %d", what, resp.Status, want)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		must("read "+sel, err)
		return strings.TrimSpace(v)
	}
	shots := os.Getenv(OwnerShotsEnv)
	shoot := func(name string, width, height int64) {
		t.Helper()
		must("viewport", chromedp.Do(ctx, chromedp.EmulateViewport(width, height)))
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		must("screenshot", err)
		if len(shot) < 10_000 {
			t.Fatalf("screenshot %s looks empty: %d bytes", name, len(shot))
		}
		if shots != "" {
			must("save screenshot", os.WriteFile(filepath.Join(shots, name+".png"), shot, 0o644))
		}
	}

	// Sign in with the merchant's admin key.
	must("open sign-in", chromedp.Do(ctx, chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), tokens[access.Admin])))
	submit("sign in", `form button[type="submit"]`, 200)

	// The overview: figures and charts carry the scripted numbers.
	_, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+"/ui/owner"))
	must("overview", err)
	for fig, want := range map[string]string{"cards_issued": "3", "stamps": "9", "rewards_earned": "1", "rewards_redeemed": "1",
		"rewards_outstanding": "0", "coupons_redeemed": "1 / 2", "refused_value": "1.20 EUR", "active_cards": "3"} {
		if got := text(`[data-figure="` + fig + `"] .fig-n`); got != want {
			t.Errorf("figure %s = %q; want %q", fig, got, want)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		must(expr, err)
		return v
	}
	stampsToday := eval(`[...document.querySelectorAll('#chart-days g[data-series="stamps"] circle')].pop().dataset.value`)
	redeemedToday := eval(`[...document.querySelectorAll('#chart-days g[data-series="redemptions"] circle')].pop().dataset.value`)
	points := eval(`document.querySelectorAll('#chart-days g[data-series="stamps"] circle').length + "," +
			document.querySelectorAll('#chart-outstanding circle').length + "," + document.querySelectorAll('#chart-alerts rect').length`)
	if stampsToday != "9" || redeemedToday != "2" {
		t.Errorf("today's points: stamps %q, redemptions %q; want 9 and 2", stampsToday, redeemedToday)
	}
	if points != "30,30,5" {
		t.Errorf("points per chart (days, outstanding days, alert weeks) = %s; want 30,30,5", points)
	}
	if eval(`String(document.querySelector('#chart-days').getBoundingClientRect().height > 100)`) != "true" {
		t.Error("the chart is not drawn at a visible size")
	}
	shoot("owner-overview-desktop", 1280, 900)
	shoot("owner-overview-phone", 390, 844)
	if eval(`String(document.documentElement.scrollWidth > window.innerWidth + 1)`) != "false" {
		t.Error("the overview scrolls sideways on a phone: " + eval(`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`))
	}
	must("desktop again", chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))

	// A CSV of the days, downloaded with the session and parsed.
	days, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch('/ui/owner/export/days.csv').then(r => r.text())`, chromedp.EvalAwaitPromise))
	must("download CSV", err)
	rows, err := csv.NewReader(strings.NewReader(days)).ReadAll()
	must("parse CSV", err)
	last := rows[len(rows)-1]
	if len(rows) != 31 || rows[0][2] != "stamps" || last[0] != time.Now().UTC().Format(time.DateOnly) || last[2] != "9" || last[3] != "2" {
		t.Errorf("days CSV: %d rows, header %v, today %v", len(rows), rows[0], last)
	}

	// Create a program.
	_, err = chromedp.RunResponse(ctx, chromedp.Navigate(base+"/ui/owner/programs"))
	must("programs", err)
	must("fill the program form", chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#new-program input[name="id"]`), "tea"),
		chromedp.SetValue(chromedp.CSS(`#new-program input[name="stamps_required"]`), "8"),
		chromedp.SendKeys(chromedp.CSS(`#new-program input[name="reward"]`), "free tea"),
		chromedp.SendKeys(chromedp.CSS(`#new-program input[name="amount"]`), "2.80")))
	submit("create the program", `#new-program button[type="submit"]`, 200)
	if got := text(`#programs tr[data-program="tea"] td:nth-child(4)`); got != "2.80 EUR" {
		t.Errorf("the new program's value = %q", got)
	}
	if st, out := apiCall(t, base, "/v1/cards", iss, map[string]any{"merchant": "bakery-1", "program": "tea"}); st != 201 {
		t.Errorf("a card of the program made on the page: %d %v", st, out)
	}
	shoot("owner-programs-phone", 390, 844)
	must("desktop again", chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)))

	// Revoke the register's key: the till is refused from then on.
	_, err = chromedp.RunResponse(ctx, chromedp.Navigate(base+"/ui/owner/keys"))
	must("keys", err)
	row := fmt.Sprintf(`#keys tr[data-name=%q]`, names[access.Register])
	must("reason", chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(row+` input[name="reason"]`), "till stolen")))
	submit("revoke", row+` button[type="submit"]`, 200)
	if got := text(row + ` .status`); !strings.EqualFold(got, "revoked") {
		t.Errorf("the revoked key's status = %q", got)
	}
	if st, _ := apiCall(t, base, "/v1/redeem", reg, map[string]any{"code": coupons[1].(map[string]any)["code"], "register": "till-1"}); st != 401 {
		t.Errorf("the revoked till's redeem answered %d; want 401", st)
	}
	shoot("owner-keys-desktop", 1280, 900)
}
