package api_test

import (
	"bytes"
	"image/png"
	"net/http"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/stampseal/stampseal/internal/scan"
)

// scanned decodes a PNG answer with a real barcode reader, as a register's
// scanner would.
func scanned(t *testing.T, a answer, r gozxing.Reader, format string) string {
	t.Helper()
	if a.status != 200 || a.header.Get("Content-Type") != "image/png" {
		t.Fatalf("barcode answer %d %s: %.200s", a.status, a.header.Get("Content-Type"), a.raw)
	}
	img, err := png.Decode(bytes.NewReader(a.raw))
	if err != nil {
		t.Fatal(err)
	}
	bmp, _ := gozxing.NewBinaryBitmapFromImage(img)
	res, err := r.Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		// gozxing's detector misses a few symbols that other readers take
		// (see scan.Fallback); the symbol still has to scan somewhere real.
		t.Logf("gozxing missed the barcode (%v); trying ZXingReader", err)
		return scan.ZXing(t, a.raw, format)
	}
	return res.GetText()
}

func TestScannedBarcodeRedeems(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	serial, code := s.coupon(sh, 1)
	path := "/v1/credentials/" + serial + "/barcode.png?symbology=qr&size=150"
	first := s.must(200, "GET", path, sh.issuer, nil)
	got := scanned(t, first, qrcode.NewQRCodeReader(), "QRCode")
	if got != code {
		t.Fatalf("QR carries %q, want the coupon's code", got)
	}
	etag := first.header.Get("ETag")
	if etag == "" || first.header.Get("Cache-Control") != "private, max-age=31536000, immutable" {
		t.Errorf("caching headers: ETag %q, Cache-Control %q", etag, first.header.Get("Cache-Control"))
	}
	if code := getWithETag(t, s.url+path, sh.issuer, etag); code != http.StatusNotModified {
		t.Errorf("fetch with the ETag = %d, want 304", code)
	}
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": got, "register": "till-1"})

	// Code 128 carries the short code; a cashier types it when the scanner fails.
	serial2, _ := s.coupon(sh, 1)
	short := scanned(t, s.must(200, "GET", "/v1/credentials/"+serial2+"/barcode.png?symbology=code128&size=400", sh.issuer, nil), oned.NewCode128Reader(), "Code128")
	if len(short) != 14 {
		t.Fatalf("code128 carries %q, want a short code", short)
	}
	typo := []byte(short)
	typo[0] ^= 1 // '0'<->'1', 'A'<->'@'...: some other symbol
	if typo[0] == '@' {
		typo[0] = 'B'
	}
	if a := s.do("POST", "/v1/redeem", sh.register, map[string]any{"short_code": string(typo)}); a.status != 422 || a.str("error", "code") != "bad_short_code" {
		t.Errorf("mistyped short code: %d %s", a.status, a.raw)
	}
	v := s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"short_code": short})
	if v.get("valid") != true || v.str("serial") != serial2 {
		t.Errorf("verify by short code = %s", v.raw)
	}
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"short_code": short, "register": "till-2"})
	s.must(409, "POST", "/v1/redeem", sh.register, map[string]any{"short_code": short, "register": "till-2"})

	for _, tc := range []struct{ query string }{{"symbology=morse"}, {"size=20"}, {"size=99999"}, {"size=big"}} {
		if a := s.do("GET", "/v1/credentials/"+serial+"/barcode.png?"+tc.query, sh.issuer, nil); a.status != 400 {
			t.Errorf("barcode ?%s = %d, want 400", tc.query, a.status)
		}
	}
	if a := s.do("GET", "/v1/credentials/"+serial+"/barcode.png", sh.auditor, nil); a.status != 403 {
		t.Errorf("auditor fetching a barcode = %d, want 403", a.status)
	}
}

func TestPrintableCardAndSheet(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", nil)
	serial, code := s.card(sh, "coffee")
	s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": 3})
	card := s.must(200, "GET", "/v1/credentials/"+serial+"/card.png", sh.issuer, nil)
	if got := scanned(t, card, qrcode.NewQRCodeReader(), "QRCode"); got != code {
		t.Errorf("card face QR carries %q, want the card's code", got)
	}
	var serials []string
	for range 13 {
		s, _ := s.coupon(sh, 1)
		serials = append(serials, s)
	}
	pdf := s.must(200, "POST", "/v1/coupons/sheet.pdf", sh.issuer, map[string]any{"merchant": "bakery-1", "serials": serials})
	if !bytes.HasPrefix(pdf.raw, []byte("%PDF-")) || bytes.Count(pdf.raw, []byte("/Type /Page\n")) != 2 {
		t.Errorf("sheet of 13 coupons: %d bytes, %d pages; want a 2-page PDF", len(pdf.raw), bytes.Count(pdf.raw, []byte("/Type /Page\n")))
	}
}

// getWithETag fetches url as token with If-None-Match set to etag and
// returns the status, so a test can see a cached copy is still current.
func getWithETag(t *testing.T, url, token, etag string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("If-None-Match", etag)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
