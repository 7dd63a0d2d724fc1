package barcode

import (
	"errors"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sheetDPI is the resolution pages are rasterised at: a plain office
// printer's, where a 180-char QR gets about 3.6 pixels a module.
const sheetDPI = 150

// rasterise turns pdf into one image per page with pdftoppm (Debian's
// poppler-utils). A missing pdftoppm fails the test: it must not be skipped.
func rasterise(t *testing.T, pdf []byte) []image.Image {
	t.Helper()
	tool, err := exec.LookPath("pdftoppm")
	if err != nil {
		t.Fatalf("pdftoppm not found (%v): install poppler-utils (apt-get install -y poppler-utils)", err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "sheet.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "-r", fmt.Sprint(sheetDPI), "-png", in, filepath.Join(dir, "page")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	pages, err := filepath.Glob(filepath.Join(dir, "page-*.png"))
	if err != nil {
		t.Fatal(err)
	}
	var imgs []image.Image
	for _, p := range pages { // Glob sorts; page numbers are zero-padded
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, decodePNG(t, b))
	}
	return imgs
}

func TestCouponSheetPDF(t *testing.T) {
	tests := map[string]struct {
		coupons   int
		wantPages int
	}{
		"one coupon makes one page":          {1, 1},
		"twelve coupons fill one page":       {12, 1},
		"twenty-four coupons make two pages": {24, 2},
		"twenty-five coupons make three":     {25, 3},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			items := make([]SheetItem, tt.coupons)
			for i := range items {
				items[i] = SheetItem{
					Code:      testCode(180, uint64(100+i)),
					ShortCode: fmt.Sprintf("K7QF-3MZ9-%04d", i),
					Offer:     fmt.Sprintf("Coupon %d: one free croissant with any coffee, Mon–Fri before 11 – Bäckerei Müller", i+1),
				}
			}
			pdf, err := CouponSheetPDF("Bäckerei Müller — spring campaign", items)
			if err != nil {
				t.Fatalf("CouponSheetPDF: %v", err)
			}
			pages := rasterise(t, pdf)
			if len(pages) != tt.wantPages {
				t.Fatalf("%d pages, want %d", len(pages), tt.wantPages)
			}
			px := func(mm float64) int { return int(mm * sheetDPI / 25.4) }
			for i, item := range items {
				page, cell := i/sheetPerPage, i%sheetPerPage
				// Crop the QR with a little of the cell around it.
				x := sheetMargin + float64(cell%sheetCols)*sheetCellW + (sheetCellW-sheetQRSide)/2
				y := sheetTop + float64(cell/sheetCols)*sheetCellH + sheetPad
				r := image.Rect(px(x-2), px(y-2), px(x+sheetQRSide+2), px(y+sheetQRSide+2))
				crop := pages[page].(interface {
					SubImage(image.Rectangle) image.Image
				}).SubImage(r)
				if got := decode(t, crop, QR); got != item.Code {
					t.Errorf("page %d cell %d decoded %q, want coupon %d's %q", page+1, cell+1, got, i+1, item.Code)
				}
			}
		})
	}
}

func TestCouponSheetPDFErrors(t *testing.T) {
	tests := map[string]struct {
		coupons []SheetItem
		want    error
	}{
		"no coupons is refused":       {nil, ErrBadSheet},
		"too many coupons is refused": {make([]SheetItem, MaxSheetCoupons+1), ErrBadSheet},
		"a coupon without a code is refused": {
			[]SheetItem{{Code: testCode(180, 1)}, {Code: ""}}, ErrBadContent,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := CouponSheetPDF("t", tt.coupons)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CouponSheetPDF error = %v, want %v", err, tt.want)
			}
			if tt.want == ErrBadContent && !strings.Contains(err.Error(), "coupon 2") {
				t.Errorf("error %q does not name coupon 2", err)
			}
		})
	}
}

func BenchmarkCouponSheetPDF(b *testing.B) {
	items := make([]SheetItem, 24)
	for i := range items {
		items[i] = SheetItem{Code: testCode(180, uint64(i)), ShortCode: "K7QF-3MZ9-W2XD", Offer: "One free croissant"}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CouponSheetPDF("Spring", items); err != nil {
			b.Fatal(err)
		}
	}
}
