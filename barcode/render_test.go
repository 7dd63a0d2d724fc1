package barcode

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/boombuler/barcode/qr"
	"github.com/makiuchi-d/gozxing"
	zaztec "github.com/makiuchi-d/gozxing/aztec"
	zdatamatrix "github.com/makiuchi-d/gozxing/datamatrix"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// base45 is the QR alphanumeric charset that codes are written in.
const base45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// testCode returns a realistic code of n characters: "SS1:" and Base45,
// the same for the same seed.
func testCode(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 45))
	b := []byte("SS1:")
	for len(b) < n {
		b = append(b, base45[r.IntN(len(base45))])
	}
	return string(b)
}

// decode reads a barcode from img with a decoder stampseal did not write:
// gozxing, or ZXing-cpp's ZXingReader for PDF417, which gozxing v0.1.1
// cannot read.
func decode(t *testing.T, img image.Image, sym Symbology) string {
	t.Helper()
	if sym == PDF417 {
		return zxingRead(t, img, "PDF417")
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("bitmap: %v", err)
	}
	var r gozxing.Reader
	var format string // ZXingReader's name for sym
	switch sym {
	case QR:
		r, format = qrcode.NewQRCodeReader(), "QRCode"
	case Aztec:
		r, format = zaztec.NewAztecReader(), "Aztec"
	case DataMatrix:
		r, format = zdatamatrix.NewDataMatrixReader(), "DataMatrix"
	case Code128:
		r, format = oned.NewCode128Reader(), "Code128"
	default:
		t.Fatalf("gozxing has no reader for %s", sym)
	}
	res, err := r.Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		// gozxing's detector misses a few symbols that other readers take
		// (see scan.Fallback); the symbol still has to scan somewhere real.
		t.Logf("gozxing missed the %s (%v); trying ZXingReader", sym, err)
		return zxingRead(t, img, format)
	}
	return res.GetText()
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	return img
}

// rotate90 turns img a quarter turn clockwise.
func rotate90(img image.Image) image.Image {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(b.Max.Y-1-y, x-b.Min.X, img.At(x, y))
		}
	}
	return out
}

// TestRenderDecodes round-trips every symbology through a decoder
// stampseal did not write (see decode).
func TestRenderDecodes(t *testing.T) {
	code := testCode(180, 1)
	short := "K7QF-3MZ9-W2XD"
	tests := map[string]struct {
		content string
		sym     Symbology
		size    int
		rotate  bool
	}{
		"180-char code as QR at the default size decodes":       {code, QR, DefaultSize, false},
		"180-char code as QR at 150 px decodes":                 {code, QR, 150, false},
		"180-char code as QR turned a quarter turn decodes":     {code, QR, DefaultSize, true},
		"180-char code as QR at the largest size decodes":       {code, QR, MaxSize, false},
		"180-char code as Aztec decodes":                        {code, Aztec, DefaultSize, false},
		"180-char code as Data Matrix decodes":                  {code, DataMatrix, DefaultSize, false},
		"short code as Code 128 decodes":                        {short, Code128, DefaultSize, false},
		"180-char code as PDF417 at the default size decodes":   {code, PDF417, DefaultSize, false},
		"180-char code as PDF417 at 1200 px decodes":            {code, PDF417, 1200, false},
		"180-char code as PDF417 turned a quarter turn decodes": {code, PDF417, 600, true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := Render(tt.content, tt.sym, tt.size)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			img := decodePNG(t, b)
			if got := img.Bounds().Dx(); got != tt.size {
				t.Errorf("width = %d, want %d", got, tt.size)
			}
			if tt.rotate {
				img = rotate90(img)
			}
			if got := decode(t, img, tt.sym); got != tt.content {
				t.Errorf("decoded %q, want %q", got, tt.content)
			}
		})
	}
}

// TestRenderKeepsModules samples the PNG at every module centre and
// compares with the matrix boombuler built, and checks the quiet zone and
// canvas: the rendering adds and loses nothing, for every symbology.
func TestRenderKeepsModules(t *testing.T) {
	code := testCode(180, 2)
	tests := map[string]struct {
		content string
		sym     Symbology
		size    int
	}{
		"QR at 300 px keeps every module": {code, QR, 300},
		"QR at 150 px keeps every module": {code, QR, 150},
		"Aztec keeps every module":        {code, Aztec, 300},
		"Data Matrix keeps every module":  {code, DataMatrix, 300},
		"PDF417 keeps every module":       {code, PDF417, 600},
		"Code 128 keeps every bar":        {"K7QF-3MZ9-W2XD", Code128, 400},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := encode(tt.content, tt.sym)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			l, err := m.place(tt.size)
			if err != nil {
				t.Fatalf("place: %v", err)
			}
			b, err := Render(tt.content, tt.sym, tt.size)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			img := decodePNG(t, b)
			if got, want := img.Bounds().Size(), image.Pt(l.w, l.h); got != want {
				t.Fatalf("canvas %v, want %v", got, want)
			}
			if m.square && l.w != l.h {
				t.Errorf("square symbol on a %dx%d canvas", l.w, l.h)
			}
			dark := func(x, y int) bool { return isDark(img.At(x, y)) }
			for y := range m.h {
				for x := range m.w {
					px, py := l.ox+x*l.scale+l.scale/2, l.oy+y*l.scale+l.scale/2
					if got, want := dark(px, py), m.at(x, y); got != want {
						t.Fatalf("module %d,%d at pixel %d,%d: dark = %v, want %v", x, y, px, py, got, want)
					}
				}
			}
			// Everything outside the symbol is white, and the white border
			// is at least the quiet zone on every side.
			sym := image.Rect(l.ox, l.oy, l.ox+m.w*l.scale, l.oy+m.h*l.scale)
			if sym.Min.X < m.qx*l.scale || l.w-sym.Max.X < m.qx*l.scale ||
				sym.Min.Y < m.qy*l.scale || l.h-sym.Max.Y < m.qy*l.scale {
				t.Errorf("symbol %v on %dx%d leaves less than the quiet zone %d,%d modules of %d px",
					sym, l.w, l.h, m.qx, m.qy, l.scale)
			}
			for y := range l.h {
				for x := range l.w {
					if !image.Pt(x, y).In(sym) && dark(x, y) {
						t.Fatalf("pixel %d,%d outside the symbol %v is dark", x, y, sym)
					}
				}
			}
			// The module is the largest whole pixel count that fits.
			span := m.w + 2*m.qx
			if m.square {
				span = max(span, m.h+2*m.qy)
			}
			if (l.scale+1)*span <= tt.size {
				t.Errorf("module of %d px; %d px would fit %d modules in %d", l.scale, l.scale+1, span, tt.size)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	code := testCode(180, 3)
	tests := map[string]struct {
		content string
		sym     Symbology
		size    int
		want    error
	}{
		"size below the minimum is refused":               {code, QR, MinSize - 1, ErrBadSize},
		"size above the maximum is refused":               {code, QR, MaxSize + 1, ErrBadSize},
		"1000-char QR does not fit 100 px":                {testCode(1000, 3), QR, 100, ErrBadSize},
		"180-char QR fits the minimum size":               {code, QR, MinSize, nil},
		"unknown symbology is refused":                    {code, "ean13", 300, ErrBadSymbology},
		"empty content is refused":                        {"", QR, 300, ErrBadContent},
		"content over the maximum is refused":             {strings.Repeat("A", MaxContent+1), QR, 300, ErrBadContent},
		"180-char code is too long for Code 128":          {code, Code128, 300, ErrBadContent},
		"short code as Code 128 needs more than 64 px":    {"K7QF-3MZ9-W2XD", Code128, MinSize, ErrBadSize},
		"180-char PDF417 is wider than 64 px":             {code, PDF417, MinSize, ErrBadSize},
		"lower case and UTF-8 still render as QR (bytes)": {"ß and ☕", QR, 300, nil},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Render(tt.content, tt.sym, tt.size)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Render error = %v, want %v", err, tt.want)
			}
			_, err = RenderSVG(tt.content, tt.sym, tt.size)
			if !errors.Is(err, tt.want) {
				t.Fatalf("RenderSVG error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseSymbology(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    Symbology
		wantErr error
	}{
		"empty means QR":              {"", QR, nil},
		"qr is QR":                    {"qr", QR, nil},
		"upper case is accepted":      {"AZTEC", Aztec, nil},
		"pdf417 is known":             {"pdf417", PDF417, nil},
		"datamatrix is known":         {"datamatrix", DataMatrix, nil},
		"code128 is known":            {" code128 ", Code128, nil},
		"ean13 is not offered":        {"ean13", "", ErrBadSymbology},
		"a near miss is not accepted": {"qrcode", "", ErrBadSymbology},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSymbology(tt.in)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Errorf("ParseSymbology(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestQRUsesAlphanumericMode checks that qr.Auto picks alphanumeric mode
// for Base45 codes: the same version as forcing alphanumeric, smaller than
// byte mode.
func TestQRUsesAlphanumericMode(t *testing.T) {
	code := testCode(180, 4)
	auto, err := qr.Encode(code, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	alnum, err := qr.Encode(code, qr.M, qr.AlphaNumeric)
	if err != nil {
		t.Fatal(err)
	}
	bytesMode, err := qr.Encode(code, qr.M, qr.Unicode)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := auto.Bounds().Dx(), alnum.Bounds().Dx(); got != want {
		t.Errorf("auto mode: %d modules, want alphanumeric's %d", got, want)
	}
	if a, b := alnum.Bounds().Dx(), bytesMode.Bounds().Dx(); a >= b {
		t.Errorf("alphanumeric %d modules is not smaller than byte mode %d", a, b)
	}
}

func TestQRVersion(t *testing.T) {
	for _, n := range []int{120, 150, 180, 200} {
		v, modules, err := QRVersion(testCode(n, uint64(n)))
		if err != nil {
			t.Fatalf("QRVersion(%d chars): %v", n, err)
		}
		if modules != 17+4*v {
			t.Errorf("%d chars: version %d with %d modules, want %d", n, v, modules, 17+4*v)
		}
		span := modules + 8 // quiet zone of 4 each side
		t.Logf("%d-char code: QR version %d-M, %dx%d modules, %d with quiet zone: %d px/module at %d px, %d at 150 px",
			n, v, modules, modules, span, DefaultSize/span, DefaultSize, 150/span)
	}
	if _, _, err := QRVersion(""); !errors.Is(err, ErrBadContent) {
		t.Errorf("QRVersion(\"\") error = %v, want ErrBadContent", err)
	}
}

// FuzzRender checks that no content, symbology or size makes rendering
// panic; errors are fine.
func FuzzRender(f *testing.F) {
	f.Add(testCode(180, 5), "qr", 300)
	f.Add("K7QF-3MZ9-W2XD", "code128", 300)
	f.Add("SS1:ABC", "aztec", 64)
	f.Add("SS1:ABC", "pdf417", 2048)
	f.Add("\x00\xff☕", "datamatrix", 100)
	f.Add("", "", -1)
	f.Fuzz(func(t *testing.T, content, sym string, size int) {
		s, err := ParseSymbology(sym)
		if err != nil {
			s = Symbology(sym)
		}
		b, err := Render(content, s, size)
		if err == nil {
			if _, err := png.Decode(bytes.NewReader(b)); err != nil {
				t.Fatalf("Render gave an unreadable PNG: %v", err)
			}
		}
		_, _ = RenderSVG(content, s, size)
	})
}

func BenchmarkRenderQR(b *testing.B) {
	code := testCode(180, 6)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(code, QR, DefaultSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderSVG(b *testing.B) {
	code := testCode(180, 6)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := RenderSVG(code, QR, DefaultSize); err != nil {
			b.Fatal(err)
		}
	}
}
