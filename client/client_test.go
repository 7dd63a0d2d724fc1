package client_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/internal/scan"
	"github.com/stampseal/stampseal/internal/testserver"
)

// shop is a merchant on a test server with a client per role.
type shop struct {
	id                               string
	admin, issuer, register, auditor *client.Client
}

func newShop(t *testing.T, root *client.Client, id string) shop {
	t.Helper()
	ctx := context.Background()
	if _, err := root.CreateMerchant(ctx, id, "Shop "+id); err != nil {
		t.Fatalf("CreateMerchant: %v", err)
	}
	sh := shop{id: id}
	for role, dst := range map[string]**client.Client{client.RoleAdmin: &sh.admin, client.RoleIssuer: &sh.issuer,
		client.RoleRegister: &sh.register, client.RoleAuditor: &sh.auditor} {
		k, err := root.CreateAPIKey(ctx, client.APIKeyRequest{Merchant: id, Role: role, Name: role + " of " + id})
		if err != nil {
			t.Fatalf("CreateAPIKey(%s): %v", role, err)
		}
		if k.Token == "" || k.Role != role || k.Merchant != id {
			t.Fatalf("CreateAPIKey(%s) = %+v", role, k)
		}
		*dst = root.As(k.Token)
	}
	return sh
}

func start(t *testing.T) (*testserver.Server, *client.Client) {
	t.Helper()
	srv := testserver.Start(t)
	root, err := client.New(srv.URL, client.WithToken(testserver.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	return srv, root
}

// wantCode fails unless err is an *Error with status and code.
func wantCode(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *client.Error %d %s", err, err, status, code)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("err = %v, want %d %s", e, status, code)
	}
	if !client.IsCode(err, code) || client.StatusOf(err) != status {
		t.Fatalf("IsCode/StatusOf disagree with %v", e)
	}
	return e
}

func TestCouponLifeThroughTheClient(t *testing.T) {
	_, root := start(t)
	ctx := context.Background()
	if err := root.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	sh := newShop(t, root, "bakery-1")
	_, err := root.CreateMerchant(ctx, "bakery-1", "again")
	wantCode(t, err, 409, client.CodeMerchantExists)

	batch, err := sh.issuer.IssueCoupons(ctx, client.CouponRequest{Merchant: sh.id, Offer: "2 croissants for 1",
		ValidFor: client.Duration(168 * time.Hour), MaxUses: 1, Count: 2})
	coupons := batch.Coupons
	if err != nil || len(coupons) != 2 {
		t.Fatalf("IssueCoupons = %v, %v", batch, err)
	}
	cp := coupons[0]
	if cp.Kind != client.KindCoupon || cp.Code == "" || cp.Serial == "" || cp.Expires.IsZero() {
		t.Fatalf("coupon = %+v", cp)
	}

	v, err := sh.register.Verify(ctx, client.Code{Code: cp.Code})
	if err != nil || !v.Valid || v.Status != client.StatusActive || v.Serial != cp.Serial || v.Kind != client.KindCoupon {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	r, err := sh.register.Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: cp.Code}, Register: "till-3", IdempotencyKey: "sale-1"})
	if err != nil || !r.Redeemed || r.Serial != cp.Serial || r.UsesLeft != 0 || r.RedeemedAt.IsZero() {
		t.Fatalf("Redeem = %+v, %v", r, err)
	}
	again, err := sh.register.Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: cp.Code}, Register: "till-3", IdempotencyKey: "sale-1"})
	if err != nil || !again.RedeemedAt.Equal(r.RedeemedAt) {
		t.Fatalf("a retry with the same idempotency key = %+v, %v; want the first answer %+v", again, err, r)
	}
	_, err = sh.register.Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: cp.Code}, Register: "till-4"})
	e := wantCode(t, err, 409, client.CodeAlreadyRedeemed)
	if !e.RedeemedAt.Equal(r.RedeemedAt) || e.Register != "till-3" {
		t.Fatalf("already_redeemed carries %v at %q, want %v at till-3", e.RedeemedAt, e.Register, r.RedeemedAt)
	}
	if e.Message == "" || e.Details["redeemed_at"] == nil {
		t.Fatalf("already_redeemed lost its message or details: %+v", e)
	}

	st, err := sh.register.Credential(ctx, cp.Serial, client.HistoryPage{})
	if err != nil || st.Status != client.StatusRedeemed || st.Serial != cp.Serial || len(st.History) != 1 || st.History[0].Op != "redeem" || st.IssuedAt.IsZero() {
		t.Fatalf("Credential = %+v, %v", st, err)
	}

	// A tampered code is refused with the contract's code.
	tampered := []byte(coupons[1].Code)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == coupons[1].Code[len(tampered)/2] {
		t.Fatal("tampering changed nothing")
	}
	_, err = sh.register.Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: string(tampered)}})
	if client.StatusOf(err) != 422 {
		t.Fatalf("a tampered code = %v, want 422", err)
	}

	// Security staff see the replay, resolve it, block the other coupon.
	alerts, err := sh.auditor.Alerts(ctx, client.AlertFilter{Status: "open"})
	if err != nil {
		t.Fatalf("Alerts: %v", err)
	}
	var replay *client.Alert
	for i := range alerts {
		if alerts[i].Kind == "replay" {
			replay = &alerts[i]
		}
	}
	if replay == nil || replay.Serial != cp.Serial || len(replay.Evidence.Raw) == 0 {
		t.Fatalf("alerts = %+v, want a replay of %s", alerts, cp.Serial)
	}
	resolved, err := sh.auditor.ResolveAlert(ctx, "", replay.ID, client.Resolve{Note: "the customer came back", Verdict: client.VerdictBenign})
	if err != nil || resolved.Status == "open" || resolved.Resolution == nil || resolved.Resolution.Note != "the customer came back" || resolved.Resolution.Verdict != client.VerdictBenign {
		t.Fatalf("ResolveAlert = %+v, %v", resolved, err)
	}
	_, err = sh.auditor.ResolveAlert(ctx, "", "no-such-alert", client.Resolve{Note: "x"})
	wantCode(t, err, 404, client.CodeNotFound)
	stats, err := sh.auditor.AlertStats(ctx, "", time.Time{}, time.Time{})
	if err != nil || stats.Alerts < 1 || stats.Merchant != sh.id {
		t.Fatalf("AlertStats = %+v, %v", stats, err)
	}
	var replays *client.DetectorStats
	for i := range stats.Detectors {
		if stats.Detectors[i].Kind == "replay" {
			replays = &stats.Detectors[i]
		}
	}
	if replays == nil || replays.Benign != 1 {
		t.Fatalf("AlertStats detectors = %+v; want the replay with its benign verdict", stats.Detectors)
	}
	if err := sh.auditor.Block(ctx, "", coupons[1].Serial, "reported stolen"); err != nil {
		t.Fatalf("Block: %v", err)
	}
	v, err = sh.register.Verify(ctx, client.Code{Code: coupons[1].Code})
	if err != nil || v.Valid || v.Status != client.StatusBlocked {
		t.Fatalf("Verify of a blocked coupon = %+v, %v", v, err)
	}
	_, err = sh.register.Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: coupons[1].Code}})
	wantCode(t, err, 422, client.CodeBlocked)
}

func TestStampCardsThroughTheClient(t *testing.T) {
	_, root := start(t)
	ctx := context.Background()
	sh := newShop(t, root, "cafe")
	p, err := sh.issuer.CreateProgram(ctx, client.Program{Merchant: sh.id, ID: "coffee", StampsRequired: 3, Reward: "free coffee",
		RewardValidFor: client.Duration(720 * time.Hour), Limits: &client.Limits{}})
	if err != nil || p.ID != "coffee" || p.StampsRequired != 3 || p.RewardValidFor.D() != 720*time.Hour || p.Limits == nil {
		t.Fatalf("CreateProgram = %+v, %v", p, err)
	}
	card, err := sh.issuer.IssueCard(ctx, sh.id, "coffee")
	if err != nil || card.Kind != client.KindCard || card.ShortCode == "" {
		t.Fatalf("IssueCard = %+v, %v", card, err)
	}
	up, err := sh.register.Stamp(ctx, client.StampRequest{CardCode: card.Code, Stamps: 2, IdempotencyKey: "s-1"})
	if err != nil || up.Serial != card.Serial || up.Stamps != 2 || up.StampsRequired != 3 || len(up.Rewards) != 0 {
		t.Fatalf("Stamp = %+v, %v", up, err)
	}
	punch, err := sh.issuer.IssuePunch(ctx, client.PunchRequest{Merchant: sh.id, Program: "coffee", Stamps: 1, ValidFor: client.Duration(time.Hour)})
	if err != nil || punch.Kind != client.KindPunch {
		t.Fatalf("IssuePunch = %+v, %v", punch, err)
	}
	up, err = sh.register.Claim(ctx, client.ClaimRequest{CardCode: card.Code, PunchCode: punch.Code, Register: "till-1"})
	if err != nil || len(up.Rewards) != 1 || up.Rewards[0].Kind != client.KindCoupon || up.Rewards[0].Code == "" {
		t.Fatalf("Claim filling the card = %+v, %v; want one reward coupon", up, err)
	}
	_, err = sh.register.Claim(ctx, client.ClaimRequest{CardCode: card.Code, PunchCode: punch.Code})
	wantCode(t, err, 409, client.CodeAlreadyRedeemed)
	// The short code is an online look-up of the same card.
	v, err := sh.register.Verify(ctx, client.Code{ShortCode: card.ShortCode})
	if err != nil || !v.Valid || v.Serial != card.Serial {
		t.Fatalf("Verify by short code = %+v, %v", v, err)
	}
	st, err := sh.register.Credential(ctx, card.Serial, client.HistoryPage{})
	if err != nil || st.Stamps == nil || st.Program != "coffee" {
		t.Fatalf("Credential of the card = %+v, %v", st, err)
	}
	programs, err := sh.auditor.Programs(ctx, sh.id, client.Page{Limit: 10})
	if err != nil || len(programs.Programs) != 1 || programs.Programs[0].ID != "coffee" || programs.Programs[0].CreatedAt.IsZero() {
		t.Fatalf("Programs = %+v, %v", programs, err)
	}
	cards, err := sh.issuer.Credentials(ctx, client.CredentialFilter{Merchant: sh.id, Kind: client.KindCard})
	if err != nil || len(cards.Credentials) != 1 || cards.Credentials[0].Serial != card.Serial || cards.NextCursor != "" {
		t.Fatalf("Credentials of kind card = %+v, %v", cards, err)
	}
	coupons, err := sh.issuer.Credentials(ctx, client.CredentialFilter{Merchant: sh.id, Kind: client.KindCoupon, Page: client.Page{Limit: 1}})
	if err != nil || len(coupons.Credentials) != 1 || coupons.Credentials[0].RewardOf != card.Serial {
		t.Fatalf("Credentials of kind coupon = %+v, %v; want the reward of the card", coupons, err)
	}
}

func TestAdminCallsThroughTheClient(t *testing.T) {
	_, root := start(t)
	ctx := context.Background()
	sh := newShop(t, root, "deli")
	before, err := sh.register.PublicKeyset(ctx, sh.id)
	if err != nil || !bytes.Contains(before, []byte("primaryKeyId")) {
		t.Fatalf("PublicKeyset = %.80s, %v", before, err)
	}
	rot, err := sh.admin.RotateKeys(ctx, sh.id, false)
	if err != nil || rot.PrimaryKeyID == 0 {
		t.Fatalf("RotateKeys = %+v, %v", rot, err)
	}
	after, err := sh.register.PublicKeyset(ctx, sh.id)
	if err != nil || bytes.Equal(before, after) {
		t.Fatalf("the public keyset did not change with a rotation: %v", err)
	}
	var backup bytes.Buffer
	n, err := root.Backup(ctx, &backup)
	if err != nil || n == 0 || int64(backup.Len()) != n {
		t.Fatalf("Backup = %d bytes, %v", n, err)
	}
	_, err = sh.admin.Backup(ctx, &backup)
	wantCode(t, err, 403, client.CodeForbidden)
	spec, err := sh.register.OpenAPI(ctx)
	if err != nil || !bytes.HasPrefix(spec, []byte("openapi: 3.1.0")) {
		t.Fatalf("OpenAPI = %.40q, %v", spec, err)
	}
	m, err := root.Metrics(ctx)
	if err != nil || !bytes.Contains(m, []byte("# TYPE")) {
		t.Fatalf("Metrics = %.80s, %v", m, err)
	}
}

func TestBarcodesThroughTheClient(t *testing.T) {
	_, root := start(t)
	ctx := context.Background()
	sh := newShop(t, root, "florist")
	if _, err := sh.issuer.CreateProgram(ctx, client.Program{Merchant: sh.id, ID: "roses", StampsRequired: 5, Reward: "a rose"}); err != nil {
		t.Fatal(err)
	}
	card, err := sh.issuer.IssueCard(ctx, sh.id, "roses")
	if err != nil {
		t.Fatal(err)
	}
	img, err := sh.issuer.BarcodePNG(ctx, card.Serial, client.BarcodeOptions{Symbology: client.QR, Size: 256})
	if err != nil || img.ContentType != "image/png" || img.ETag == "" || !bytes.HasPrefix(img.Data, []byte("\x89PNG")) {
		t.Fatalf("BarcodePNG = %s %q %d bytes, %v", img.ContentType, img.ETag, len(img.Data), err)
	}
	same, err := sh.issuer.BarcodePNG(ctx, card.Serial, client.BarcodeOptions{Symbology: client.QR, Size: 256, IfNoneMatch: img.ETag})
	if err != nil || !same.NotModified || len(same.Data) != 0 {
		t.Fatalf("BarcodePNG with the ETag = %+v, %v; want NotModified", same, err)
	}
	// The PDF417 the API draws scans with a decoder stampseal did not write.
	pdf, err := sh.issuer.BarcodePNG(ctx, card.Serial, client.BarcodeOptions{Symbology: client.PDF417, Size: 900})
	if err != nil {
		t.Fatalf("BarcodePNG pdf417: %v", err)
	}
	if got := scan.ZXing(t, pdf.Data, "PDF417"); got != card.Code {
		t.Fatalf("the PDF417 reads %q, want the card's code %q", got, card.Code)
	}
	svg, err := sh.issuer.BarcodeSVG(ctx, card.Serial, client.BarcodeOptions{Symbology: client.DataMatrix})
	if err != nil || !bytes.Contains(svg.Data, []byte("<svg")) {
		t.Fatalf("BarcodeSVG = %.60s, %v", svg.Data, err)
	}
	face, err := sh.issuer.CardPNG(ctx, card.Serial, "")
	if err != nil || !bytes.HasPrefix(face.Data, []byte("\x89PNG")) {
		t.Fatalf("CardPNG: %v", err)
	}
	_, err = sh.register.BarcodePNG(ctx, card.Serial, client.BarcodeOptions{})
	wantCode(t, err, 403, client.CodeForbidden) // a register holds the code already; it renders none
	_, err = sh.issuer.BarcodePNG(ctx, card.Serial, client.BarcodeOptions{Symbology: "morse"})
	wantCode(t, err, 400, client.CodeInvalidRequest)
	batch, err := sh.issuer.IssueCoupons(ctx, client.CouponRequest{Merchant: sh.id, Offer: "a rose", Count: 2, MaxUses: 1})
	if err != nil {
		t.Fatal(err)
	}
	sheet, err := sh.issuer.CouponSheetPDF(ctx, client.SheetRequest{Merchant: sh.id, Serials: []string{batch.Coupons[0].Serial, batch.Coupons[1].Serial}})
	if err != nil || !bytes.HasPrefix(sheet, []byte("%PDF")) {
		t.Fatalf("CouponSheetPDF = %.20q, %v", sheet, err)
	}
}

func TestErrorsAreValues(t *testing.T) {
	srv, root := start(t)
	ctx := context.Background()
	sh := newShop(t, root, "grocer")

	nobody, _ := client.New(srv.URL)
	_, err := nobody.Verify(ctx, client.Code{Code: "x"})
	wantCode(t, err, 401, client.CodeUnauthenticated)
	_, err = root.As("not-a-key").Verify(ctx, client.Code{Code: "x"})
	wantCode(t, err, 401, client.CodeUnauthenticated)
	// An issuer may not redeem; a register may not mint.
	_, err = sh.issuer.Redeem(ctx, client.RedeemRequest{Code: client.Code{Code: "x"}})
	wantCode(t, err, 403, client.CodeForbidden)
	_, err = sh.register.IssueCard(ctx, sh.id, "none")
	wantCode(t, err, 403, client.CodeForbidden)
	_, err = sh.register.Credential(ctx, "no-such-serial", client.HistoryPage{})
	wantCode(t, err, 404, client.CodeNotFound)
	_, err = sh.register.Verify(ctx, client.Code{})
	wantCode(t, err, 400, client.CodeInvalidRequest)
	if err.Error() == "" || !strings.Contains(err.Error(), "/v1/verify") {
		t.Fatalf("the error does not name its route: %q", err)
	}
}

func TestContextAndHTTPClientAreHonoured(t *testing.T) {
	srv, _ := start(t)
	var sent atomic.Int64
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent.Add(1)
		if ua := r.Header.Get("User-Agent"); ua != "till-7" {
			t.Errorf("User-Agent = %q, want till-7", ua)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, err := client.New(srv.URL+"/", client.WithToken(testserver.AdminToken), client.WithHTTPClient(hc), client.WithUserAgent("till-7"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); err != nil || sent.Load() != 1 {
		t.Fatalf("Health through the given http.Client: %v, %d requests", err, sent.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.CreateMerchant(ctx, "late", "Late")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled context = %v, want context.Canceled", err)
	}
	for _, bad := range []string{"", "ftp://x", "127.0.0.1:8080", "http://"} {
		if _, err := client.New(bad); err == nil {
			t.Errorf("New(%q) accepted a base URL without scheme or host", bad)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
