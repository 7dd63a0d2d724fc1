// Package barcode draws stampseal codes as barcodes: PNG and SVG symbols,
// a cache for serving them, printable stamp cards and coupon sheets.
//
// Every symbol keeps whole-pixel modules and its quiet zone, so what is
// printed or shown on a screen scans the way the standard means it to.
package barcode

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"sync"

	"github.com/boombuler/barcode/qr"
)

// Symbology names a barcode kind.
type Symbology string

// The symbologies Render knows. QR is the default and the one registers are
// expected to scan; Code128 is for short codes only (see Render).
const (
	QR         Symbology = "qr"
	Aztec      Symbology = "aztec"
	PDF417     Symbology = "pdf417"
	DataMatrix Symbology = "datamatrix"
	Code128    Symbology = "code128"
)

// Size limits, in pixels, for Render and RenderSVG.
const (
	MinSize     = 64
	MaxSize     = 2048
	DefaultSize = 300
)

// MaxContent bounds the content Render accepts, in bytes. Credential codes
// are about 200; the bound keeps hostile input from costing much.
const MaxContent = 1024

// ErrBadSymbology reports a symbology name Render does not know.
var ErrBadSymbology = errors.New("barcode: unknown symbology (want qr, aztec, pdf417, datamatrix or code128)")

// ErrBadSize reports a size outside MinSize..MaxSize, or one too small to
// give the content's modules at least one pixel each.
var ErrBadSize = errors.New("barcode: bad size")

// ErrBadContent reports content that is empty, longer than MaxContent, or
// that the symbology cannot encode (e.g. too long for Code 128).
var ErrBadContent = errors.New("barcode: content cannot be encoded")

// ParseSymbology returns the symbology named by s, case-insensitively; the
// empty string means QR.
func ParseSymbology(s string) (Symbology, error) {
	switch sym := Symbology(strings.ToLower(strings.TrimSpace(s))); sym {
	case "":
		return QR, nil
	case QR, Aztec, PDF417, DataMatrix, Code128:
		return sym, nil
	}
	return "", fmt.Errorf("%w: %q", ErrBadSymbology, s)
}

// Render returns a PNG of content as a sym barcode, size pixels wide.
// QR, Aztec and Data Matrix are size x size; PDF417 and Code 128 are size
// wide and as tall as their shape needs. Modules are whole pixels: the
// largest module that fits the symbol and its quiet zone in size is used
// and the symbol is centred on white. QR uses error correction level M and
// the smallest version that holds the content.
//
// Code 128 is meant for short codes (a shortcode's 14 characters, about
// 200 modules, fits from about 220 px); a full credential code is far too
// long for it and fails with ErrBadContent.
func Render(content string, sym Symbology, size int) ([]byte, error) {
	m, err := encode(content, sym)
	if err != nil {
		return nil, err
	}
	img, err := m.image(size)
	if err != nil {
		return nil, err
	}
	return encodePNG(img)
}

// pngEncoder reuses its compressor between calls: a fresh one allocates
// about a megabyte, more than the image.
var pngEncoder = png.Encoder{BufferPool: &pngBuffers{}}

type pngBuffers struct{ p sync.Pool }

func (b *pngBuffers) Get() *png.EncoderBuffer {
	e, _ := b.p.Get().(*png.EncoderBuffer)
	return e
}

func (b *pngBuffers) Put(e *png.EncoderBuffer) { b.p.Put(e) }

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := pngEncoder.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("barcode: encode png: %w", err)
	}
	return buf.Bytes(), nil
}

// QRVersion reports the QR version (1..40) and the modules per side
// (without quiet zone) that Render uses for content.
func QRVersion(content string) (version, modules int, err error) {
	if content == "" || len(content) > MaxContent {
		return 0, 0, fmt.Errorf("%w: %d bytes, want 1..%d", ErrBadContent, len(content), MaxContent)
	}
	code, err := qr.Encode(content, qr.M, qr.Auto)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: qr: %v", ErrBadContent, err)
	}
	modules = code.Bounds().Dx()
	return (modules - 17) / 4, modules, nil
}

// layout is where a matrix lands on a canvas, in pixels.
type layout struct {
	scale  int // pixels per module
	w, h   int // canvas
	ox, oy int // top-left of the first module
}

// place fits m in size pixels of width (and of height, for square symbols).
func (m *matrix) place(size int) (layout, error) {
	if size < MinSize || size > MaxSize {
		return layout{}, fmt.Errorf("%w: %d px, want %d..%d", ErrBadSize, size, MinSize, MaxSize)
	}
	tw, th := m.w+2*m.qx, m.h+2*m.qy
	span := tw
	if m.square {
		span = max(tw, th)
	}
	l := layout{scale: size / span, w: size}
	if l.scale < 1 {
		return layout{}, fmt.Errorf("%w: %d px is too small for %d modules with quiet zone, want at least %d",
			ErrBadSize, size, span, span)
	}
	l.ox = (size - m.w*l.scale) / 2
	if m.square {
		l.h = size
		l.oy = (size - m.h*l.scale) / 2
	} else {
		l.h = th * l.scale
		l.oy = m.qy * l.scale
	}
	return l, nil
}

// bw is a two-colour palette; the PNG encoder writes it at one bit a pixel.
var bw = color.Palette{color.White, color.Black}

// image paints m at size on white.
func (m *matrix) image(size int) (*image.Paletted, error) {
	l, err := m.place(size)
	if err != nil {
		return nil, err
	}
	img := image.NewPaletted(image.Rect(0, 0, l.w, l.h), bw)
	// Paint each module row once, then copy it down for the module height.
	for y := range m.h {
		top := l.oy + y*l.scale
		row := img.Pix[top*img.Stride : top*img.Stride+l.w]
		for x := range m.w {
			if m.at(x, y) {
				px := l.ox + x*l.scale
				for i := px; i < px+l.scale; i++ {
					row[i] = 1
				}
			}
		}
		for i := 1; i < l.scale; i++ {
			copy(img.Pix[(top+i)*img.Stride:], row)
		}
	}
	return img, nil
}
