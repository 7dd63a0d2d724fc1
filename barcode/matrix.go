package barcode

import (
	"fmt"
	"image/color"

	bc "github.com/boombuler/barcode"
	"github.com/boombuler/barcode/aztec"
	"github.com/boombuler/barcode/code128"
	"github.com/boombuler/barcode/datamatrix"
	"github.com/boombuler/barcode/qr"
)

// matrix is a symbol's module grid, the one thing PNG, SVG and PDF output
// are drawn from. A PDF417 symbol row is pdf417RowHeight modules tall.
type matrix struct {
	w, h   int    // modules, without quiet zone
	dark   []bool // row-major, w*h
	qx, qy int    // quiet zone on each side, in modules
	square bool   // drawn centred on a size x size canvas
}

func (m *matrix) at(x, y int) bool { return m.dark[y*m.w+x] }

// encode builds the module matrix of content in symbology sym.
func encode(content string, sym Symbology) (*matrix, error) {
	if content == "" || len(content) > MaxContent {
		return nil, fmt.Errorf("%w: %d bytes, want 1..%d", ErrBadContent, len(content), MaxContent)
	}
	var (
		code bc.Barcode
		err  error
	)
	m := &matrix{square: true}
	switch sym {
	case QR:
		// Auto tries numeric, then alphanumeric, then bytes, each at the
		// smallest version that fits; our Base45 codes take alphanumeric.
		code, err = qr.Encode(content, qr.M, qr.Auto)
		m.qx, m.qy = 4, 4 // ISO 18004 quiet zone
	case Aztec:
		code, err = aztec.Encode([]byte(content), aztec.DEFAULT_EC_PERCENT, aztec.DEFAULT_LAYERS)
		m.qx, m.qy = 2, 2 // Aztec needs none; a little helps phone cameras
	case DataMatrix:
		code, err = datamatrix.Encode(content)
		m.qx, m.qy = 2, 2 // ISO 16022 asks for 1
	case PDF417:
		rows, err := encodePDF417(content)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadContent, sym, err)
		}
		m.qx, m.qy, m.square = 2, 2, false // ISO 15438: 2 modules on every side
		m.w, m.h = len(rows[0]), len(rows)*pdf417RowHeight
		m.dark = make([]bool, m.w*m.h)
		for y := range m.h {
			copy(m.dark[y*m.w:(y+1)*m.w], rows[y/pdf417RowHeight])
		}
		return m, nil
	case Code128:
		code, err = code128.Encode(content)
		m.qx, m.qy, m.square = 10, 2, false // ISO 15417 asks for 10 modules
	default:
		return nil, fmt.Errorf("%w: %q", ErrBadSymbology, string(sym))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadContent, sym, err)
	}
	b := code.Bounds()
	m.w, m.h = b.Dx(), b.Dy()
	if sym == Code128 {
		// A 1D code is one row; give the bars a height of about a quarter
		// of the symbol's width, quiet zone included.
		m.h = max((m.w+2*m.qx)/4-2*m.qy, 8)
	}
	m.dark = make([]bool, m.w*m.h)
	for y := range b.Dy() {
		for x := range m.w {
			m.dark[y*m.w+x] = isDark(code.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	for y := b.Dy(); y < m.h; y++ { // Code 128: repeat the one row
		copy(m.dark[y*m.w:(y+1)*m.w], m.dark[:m.w])
	}
	return m, nil
}

func isDark(c color.Color) bool {
	return color.GrayModel.Convert(c).(color.Gray).Y < 0x80
}

// runs calls fn for every rectangle of dark modules, in module units with
// the matrix origin at (0, 0). Horizontal runs are merged, and identical
// consecutive rows become one band, so a 1D code is one rectangle per bar.
func (m *matrix) runs(fn func(x, y, w, h int)) {
	for y := 0; y < m.h; {
		row := m.dark[y*m.w : (y+1)*m.w]
		band := 1
		for y+band < m.h && equalRows(row, m.dark[(y+band)*m.w:(y+band+1)*m.w]) {
			band++
		}
		for x := 0; x < m.w; {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < m.w && row[x] {
				x++
			}
			fn(start, y, x-start, band)
		}
		y += band
	}
}

func equalRows(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
