package barcode

import (
	"bytes"
	"errors"
	"fmt"

	// go-pdf/fpdf is the maintained fork of jung-kurt/gofpdf: pure Go, no
	// cgo, embeds UTF-8 TrueType fonts (so "Bäckerei" prints right) and
	// draws vector paths, which keeps QR modules sharp at any printer
	// resolution.
	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"
)

// SheetItem is one coupon on a sheet.
type SheetItem struct {
	Code      string // the coupon's credential code, drawn as a QR
	ShortCode string // the code a cashier types when a scan fails
	Offer     string // e.g. "One free croissant"
}

// MaxSheetCoupons bounds one sheet: 100 pages.
const MaxSheetCoupons = 100 * sheetPerPage

// ErrBadSheet reports a coupon list that is empty or longer than
// MaxSheetCoupons.
var ErrBadSheet = errors.New("barcode: bad coupon sheet")

// Sheet layout, in millimetres on portrait A4. Tests crop cells with it.
const (
	sheetCols    = 3
	sheetRows    = 4
	sheetPerPage = sheetCols * sheetRows
	sheetPageW   = 210.0
	sheetPageH   = 297.0
	sheetMargin  = 10.0
	sheetTop     = 24.0 // below the title line
	sheetCellW   = (sheetPageW - 2*sheetMargin) / sheetCols
	sheetCellH   = (sheetPageH - sheetTop - sheetMargin) / sheetRows
	sheetQRSide  = 40.0 // QR including its quiet zone
	sheetPad     = 3.0
)

// CouponSheetPDF lays coupons out on A4 pages, twelve a page in three
// columns of four, with dashed cut lines. Each coupon shows its QR, short
// code and offer (up to three lines, then cut with "…"); each page has the
// title and its page number. It returns an error wrapping ErrBadSheet for
// an empty or too long list, or one of Render's for a code.
func CouponSheetPDF(title string, coupons []SheetItem) ([]byte, error) {
	if len(coupons) == 0 || len(coupons) > MaxSheetCoupons {
		return nil, fmt.Errorf("%w: %d coupons, want 1..%d", ErrBadSheet, len(coupons), MaxSheetCoupons)
	}
	// Encode first: a bad code fails before any PDF work.
	qrs := make([]*matrix, len(coupons))
	for i, c := range coupons {
		m, err := encode(c.Code, QR)
		if err != nil {
			return nil, fmt.Errorf("coupon %d: %w", i+1, err)
		}
		qrs[i] = m
	}

	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetAutoPageBreak(false, 0)
	pdf.AliasNbPages("{nb}")
	pdf.SetCreator("stampseal", false)
	pdf.AddUTF8FontFromBytes("go", "", goregular.TTF)
	pdf.AddUTF8FontFromBytes("go", "B", gobold.TTF)
	pdf.AddUTF8FontFromBytes("gomono", "B", gomonobold.TTF)
	pdf.SetHeaderFunc(func() {
		pdf.SetFont("go", "B", 14)
		pdf.SetXY(sheetMargin, sheetMargin)
		pdf.CellFormat(sheetPageW-2*sheetMargin-30, 8, fit(pdf, title, sheetPageW-2*sheetMargin-30), "", 0, "L", false, 0, "")
		pdf.SetFont("go", "", 9)
		pdf.CellFormat(30, 8, fmt.Sprintf("page %d of {nb}", pdf.PageNo()), "", 0, "R", false, 0, "")
	})

	for i, c := range coupons {
		if i%sheetPerPage == 0 {
			pdf.AddPage()
		}
		cell := i % sheetPerPage
		x := sheetMargin + float64(cell%sheetCols)*sheetCellW
		y := sheetTop + float64(cell/sheetCols)*sheetCellH
		coupon(pdf, x, y, c, qrs[i])
	}

	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("barcode: write coupon sheet: %w", err)
	}
	return buf.Bytes(), nil
}

// coupon draws one cell with its top-left corner at x, y.
func coupon(pdf *fpdf.Fpdf, x, y float64, c SheetItem, m *matrix) {
	pdf.SetDrawColor(160, 160, 160)
	pdf.SetLineWidth(0.2)
	pdf.SetDashPattern([]float64{2, 1.5}, 0)
	pdf.Rect(x, y, sheetCellW, sheetCellH, "D")
	pdf.SetDashPattern(nil, 0)

	qx := x + (sheetCellW-sheetQRSide)/2
	qy := y + sheetPad
	drawQR(pdf, qx, qy, m)

	w := sheetCellW - 2*sheetPad
	pdf.SetXY(x+sheetPad, qy+sheetQRSide+1)
	pdf.SetFont("gomono", "B", 13)
	pdf.CellFormat(w, 6, fit(pdf, c.ShortCode, w), "", 2, "C", false, 0, "")
	pdf.SetFont("go", "", 9)
	lines := pdf.SplitText(c.Offer, w)
	if len(lines) > 3 {
		lines = append(lines[:2], fit(pdf, lines[2]+" "+lines[3]+"…", w))
	}
	for _, line := range lines {
		pdf.SetX(x + sheetPad)
		pdf.CellFormat(w, 4, line, "", 2, "C", false, 0, "")
	}
}

// drawQR fills m's dark modules as one vector path inside a sheetQRSide
// square at x, y (quiet zone included). One path, not one rectangle per
// run, so anti-aliased rasterisers leave no seams between touching runs.
func drawQR(pdf *fpdf.Fpdf, x, y float64, m *matrix) {
	side := max(m.w+2*m.qx, m.h+2*m.qy)
	mod := sheetQRSide / float64(side)
	ox := x + float64(side-m.w)/2*mod
	oy := y + float64(side-m.h)/2*mod
	pdf.SetFillColor(0, 0, 0)
	m.runs(func(rx, ry, rw, rh int) {
		x0, y0 := ox+float64(rx)*mod, oy+float64(ry)*mod
		x1, y1 := x0+float64(rw)*mod, y0+float64(rh)*mod
		pdf.MoveTo(x0, y0)
		pdf.LineTo(x1, y0)
		pdf.LineTo(x1, y1)
		pdf.LineTo(x0, y1)
		pdf.ClosePath()
	})
	pdf.DrawPath("f")
}

// fit cuts s with "…" so it is at most w wide in the current font.
func fit(pdf *fpdf.Fpdf, s string, w float64) string {
	if pdf.GetStringWidth(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && pdf.GetStringWidth(string(r)+"…") > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}
