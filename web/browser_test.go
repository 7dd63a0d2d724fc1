package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/credential"
)

// ScreenshotEnv, set to 1, makes TestReviewInBrowser rewrite
// testdata/review-page.png (the alerts page) and testdata/review-alert.png
// (an alert after resolving it and blocking its coupon):
//
//	STAMPSEAL_SCREENSHOT=1 go test -run TestReviewInBrowser ./web/
//
// Without it the test still takes the screenshots, into a temporary
// directory, and checks that they are real PNGs.
const ScreenshotEnv = "STAMPSEAL_SCREENSHOT"

// findChromium returns the path of a Chromium or Chrome binary, failing the
// test when there is none: the browser test never skips.
// newBrowser starts a headless Chromium for the rest of the test, with a
// window width px wide, and gives up after timeout. Its output is logged
// when the test fails. must fails the test on a browser step's error.
func newBrowser(t *testing.T, chromium string, timeout time.Duration, width int) (ctx context.Context, must func(what string, err error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	var browserLog bytes.Buffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, 900),
		chromedp.CombinedOutput(&browserLog),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancel()
		if t.Failed() && browserLog.Len() > 0 {
			t.Logf("browser output:\n%s", browserLog.String())
		}
	})
	return ctx, func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on PATH (looked for chromium, chromium-browser, google-chrome): " +
		"install it with `apt-get install chromium`; this test drives a real browser and does not skip")
	return ""
}

// apiCall sends a JSON request to the API with a bearer key and decodes the
// answer.
func apiCall(t *testing.T, base, path, token string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST %s: answer %d is not JSON: %s", path, res.StatusCode, raw)
	}
	return res.StatusCode, out
}

// TestReviewInBrowser drives the review page in headless Chromium against
// a whole stampseal: a coupon redeemed twice raises a replay alert, which
// an auditor signs in to see, resolves, and whose coupon they block.
func TestReviewInBrowser(t *testing.T) {
	chromium := findChromium(t)
	s := newStack(t)
	tokens := s.merchant(t, "bakery-1", "Corner Bakery", access.Auditor, access.Register)
	reg := tokens[access.Register]
	base := s.srv.URL

	// A coupon redeemed twice, at two registers: a replay.
	coupon := s.coupon(t, "bakery-1", "2 croissants for 1")
	if st, out := apiCall(t, base, "/v1/redeem", reg, map[string]any{"code": coupon.Code, "register": "till-1", "idempotency_key": "first"}); st != 200 {
		t.Fatalf("first redeem: got %d %v, want 200", st, out)
	}
	if st, out := apiCall(t, base, "/v1/redeem", reg, map[string]any{"code": coupon.Code, "register": "till-2", "idempotency_key": "second"}); st != 409 {
		t.Fatalf("second redeem: got %d %v, want 409", st, out)
	}
	raiseMoreAlerts(t, s, base, reg)

	ctx, must := newBrowser(t, chromium, 60*time.Second, 1360)
	// submit clicks a button and waits for the page it leads to, which must
	// answer 200 after its redirect.
	submit := func(what, sel string) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
		must(what, err)
		if resp.Status != 200 {
			t.Fatalf("%s: page answered %d, want 200", what, resp.Status)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		must("read "+sel, err)
		return strings.TrimSpace(s)
	}

	// Sign in.
	must("open the sign-in page", chromedp.Do(ctx,
		chromedp.Navigate(base+"/ui/login"),
		chromedp.WaitVisible(chromedp.ID("key")),
		chromedp.SendKeys(chromedp.ID("key"), tokens[access.Auditor]),
	))
	submit("sign in", "#sign-in")

	// The alerts table lists the replay of the coupon.
	row := fmt.Sprintf(`#alerts tr[data-kind="replay"][data-serial=%q]`, coupon.Serial)
	must("see the replay alert", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(row))))
	if got := text(row + " td.serial"); got != coupon.Serial {
		t.Errorf("serial in the replay row: got %q, want %q", got, coupon.Serial)
	}
	if got := text(".who-key"); !strings.Contains(got, names[access.Auditor]) {
		t.Errorf("header: got %q, want the key name %q", got, names[access.Auditor])
	}
	if got := text(".who-merchant"); !strings.Contains(got, "Corner Bakery") {
		t.Errorf("header: got %q, want the merchant", got)
	}
	shot := screenshot(t, ctx)
	must("write screenshot", os.WriteFile(filepath.Join(t.TempDir(), "review-page.png"), shot, 0o644))
	if os.Getenv(ScreenshotEnv) == "1" {
		must("write testdata/review-page.png", os.WriteFile(filepath.Join("testdata", "review-page.png"), shot, 0o644))
		t.Logf("wrote testdata/review-page.png (%d bytes)", len(shot))
	}

	// Open it and resolve it with a note.
	submit("open the alert", row+" a.btn")
	if got := text("#alert-serial"); got != coupon.Serial {
		t.Errorf("alert page serial: got %q, want %q", got, coupon.Serial)
	}
	evidence := text("#evidence")
	for _, want := range []string{"till-2", "already redeemed", "127.0.0.1"} {
		if !strings.Contains(evidence, want) {
			t.Errorf("evidence lacks %q:\n%s", want, evidence)
		}
	}
	if card := text("#card-section"); !strings.Contains(card, "redeem") || !strings.Contains(card, "till-1") {
		t.Errorf("card section lacks the first redemption at till-1:\n%s", card)
	}
	if strings.Contains(evidence, coupon.Code) {
		t.Errorf("the evidence shows the full code")
	}
	must("type a note", chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("note"), "Customer showed a photo of a coupon used at till 1. Staff told.")))
	submit("resolve", "#resolve")
	if got := text("#flash"); !strings.Contains(got, "Alert resolved") {
		t.Errorf("flash after resolve: got %q", got)
	}
	if got := text("#alert-status"); !strings.EqualFold(got, "resolved") {
		t.Errorf("alert status: got %q, want resolved", got)
	}
	if got := text("#resolution"); !strings.Contains(got, "photo of a coupon") || !strings.Contains(got, names[access.Auditor]) {
		t.Errorf("resolution: got %q, want the note and the resolver", got)
	}

	// Block the coupon from the same page.
	must("type a reason", chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("reason"), "Copied coupon, redeemed twice")))
	submit("block", "#block")
	if got := text("#flash"); !strings.Contains(got, coupon.Serial) || !strings.Contains(got, "is blocked") {
		t.Errorf("flash after block: got %q", got)
	}
	if got := text("#card-status"); !strings.EqualFold(got, "blocked") {
		t.Errorf("card status on the page: got %q, want blocked", got)
	}
	alertShot := screenshot(t, ctx)
	must("write screenshot", os.WriteFile(filepath.Join(t.TempDir(), "review-alert.png"), alertShot, 0o644))
	if os.Getenv(ScreenshotEnv) == "1" {
		must("write testdata/review-alert.png", os.WriteFile(filepath.Join("testdata", "review-alert.png"), alertShot, 0o644))
	}
	st, out := apiCall(t, base, "/v1/verify", reg, map[string]any{"code": coupon.Code, "register": "till-1"})
	if st != 200 || out["status"] != "blocked" {
		t.Errorf("verify after block: got %d %v, want 200 with status blocked", st, out)
	}

	// The replay is no longer among the open alerts; the others still are.
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(base+"/ui/alerts"))
	must("reload the alerts", err)
	if resp.Status != 200 {
		t.Fatalf("alerts page: got %d", resp.Status)
	}
	must("the replay left the open list", chromedp.Do(ctx, chromedp.WaitNotPresent(chromedp.CSS(row))))
	must("other alerts stay open", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#alerts tr[data-kind="counterfeit"]`))))
}

// screenshot takes a PNG of the whole page, not just the window, and checks
// that it is one.
func screenshot(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	height, err := chromedp.Run(ctx, chromedp.Evaluate[int64]("document.documentElement.scrollHeight"))
	if err != nil {
		t.Fatalf("page height: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1360, max(height, 700))); err != nil {
		t.Fatalf("size the viewport: %v", err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.ResetViewport()); err != nil {
		t.Fatalf("reset the viewport: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); len(shot) < 10_000 || b.Dx() < 800 || b.Dy() < 500 {
		t.Fatalf("screenshot looks empty: %d bytes, %dx%d", len(shot), b.Dx(), b.Dy())
	}
	return shot
}

// raiseMoreAlerts fills the page: a forged code (counterfeit) and one card
// stamped at two registers at once (duplicate card).
func raiseMoreAlerts(t *testing.T, s *stack, base, reg string) {
	t.Helper()
	// A tampered code: change one character of the signature until the code
	// still decodes but no longer verifies.
	good := s.coupon(t, "bakery-1", "Free muffin").Code
	forged := false
	for i := len(good) - 4; i > len(good)-40 && !forged; i-- {
		c := byte('0')
		if good[i] == '0' {
			c = '1'
		}
		code := good[:i] + string(c) + good[i+1:]
		_, out := apiCall(t, base, "/v1/verify", reg, map[string]any{"code": code, "register": "till-3"})
		forged = out["reason"] == "invalid_signature"
	}
	if !forged {
		t.Fatal("could not forge a code that decodes with a bad signature")
	}
	if _, err := s.issuer.CreateProgram(credential.Program{Merchant: "bakery-1", ID: "coffee", StampsRequired: 10,
		Reward: "free coffee", RewardValidFor: 30 * 24 * time.Hour, Limits: credential.DefaultLimits}); err != nil {
		t.Fatalf("create program: %v", err)
	}
	card, err := s.issuer.Card("bakery-1", "coffee")
	if err != nil {
		t.Fatalf("issue card: %v", err)
	}
	for i, till := range []string{"till-1", "till-4"} {
		st, out := apiCall(t, base, "/v1/cards/stamp", reg, map[string]any{"card_code": card.Code, "stamps": 1,
			"register": till, "idempotency_key": fmt.Sprint("stamp-", i)})
		if st != 200 {
			t.Fatalf("stamp at %s: got %d %v", till, st, out)
		}
	}
}
