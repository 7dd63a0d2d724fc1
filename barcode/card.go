package barcode

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// CardFace is what a printed stamp card shows.
type CardFace struct {
	Merchant       string // e.g. "Bakery Ruth"
	Program        string // e.g. "Ten coffees, one free"
	Code           string // the card's credential code, drawn as a QR
	ShortCode      string // the code a cashier types when a scan fails
	Stamps         int    // boxes filled, 0..StampsRequired
	StampsRequired int    // boxes drawn, 1..MaxStamps
}

// MaxStamps is the most stamp boxes a card can show.
const MaxStamps = 30

// Card dimensions in pixels (85.6:54 mm is a bank card; this is close).
const (
	CardWidth  = 1000
	CardHeight = 600
)

// ErrBadCard reports a CardFace that cannot be drawn.
var ErrBadCard = errors.New("barcode: bad card face")

// Card layout, in pixels. The QR sits on the right; text and stamps on
// the left.
const (
	cardMargin = 40
	cardQRSize = 400
	cardQRX    = CardWidth - cardMargin - cardQRSize
	cardQRY    = (CardHeight - cardQRSize) / 2
	cardTextW  = cardQRX - 2*cardMargin // left column width
)

var (
	ink    = color.RGBA{0x1b, 0x1b, 0x1f, 0xff}
	accent = color.RGBA{0x8a, 0x4b, 0x22, 0xff} // coffee brown
	faint  = color.RGBA{0x6b, 0x6b, 0x70, 0xff}
)

// cardFonts are parsed once; faces are cheap but not safe for concurrent
// use, so each card makes its own.
var cardFonts = sync.OnceValues(func() (fs [3]*opentype.Font, err error) {
	for i, ttf := range [][]byte{goregular.TTF, gobold.TTF, gomonobold.TTF} {
		if fs[i], err = opentype.Parse(ttf); err != nil {
			return fs, fmt.Errorf("barcode: parse go font: %w", err)
		}
	}
	return fs, nil
})

// CardPNG draws a printable stamp card, CardWidth x CardHeight pixels: the
// merchant and program names, StampsRequired boxes with Stamps of them
// filled, the short code in large type, and the QR of Code. Names too long
// for the card are cut with an ellipsis. It returns an error wrapping
// ErrBadCard for stamp counts out of range, or one of Render's for Code.
func CardPNG(face CardFace) ([]byte, error) {
	if face.StampsRequired < 1 || face.StampsRequired > MaxStamps || face.Stamps < 0 || face.Stamps > face.StampsRequired {
		return nil, fmt.Errorf("%w: %d of %d stamps, want 0..required and required 1..%d",
			ErrBadCard, face.Stamps, face.StampsRequired, MaxStamps)
	}
	m, err := encode(face.Code, QR)
	if err != nil {
		return nil, err
	}
	qrImg, err := m.image(cardQRSize)
	if err != nil {
		return nil, err
	}
	fonts, err := cardFonts()
	if err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, CardWidth, CardHeight))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	border(img, img.Bounds().Inset(12), 3, ink)
	draw.Draw(img, qrImg.Bounds().Add(image.Pt(cardQRX, cardQRY)), qrImg, image.Point{}, draw.Src)

	x := cardMargin
	text(img, fonts[1], 46, 30, face.Merchant, x, 100, cardTextW, ink)
	text(img, fonts[0], 28, 20, face.Program, x, 145, cardTextW, faint)
	stampBoxes(img, stampArea, face.Stamps, face.StampsRequired)
	if face.ShortCode != "" {
		text(img, fonts[0], 20, 20, "If the scan fails, type:", x, 480, cardTextW, faint)
		text(img, fonts[2], 50, 30, face.ShortCode, x, 540, cardTextW, ink)
	}

	return encodePNG(img)
}

// text draws s with its baseline at y in the largest size from size down
// to minSize that fits width; if none does, s is cut with "…".
func text(dst draw.Image, f *opentype.Font, size, minSize float64, s string, x, y, width int, c color.Color) {
	limit := fixed.I(width)
	d := font.Drawer{Dst: dst, Src: image.NewUniform(c), Dot: fixed.P(x, y)}
	for ; ; size -= 2 {
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			return // only for sizes <= 0, which we never pass
		}
		defer face.Close()
		d.Face = face
		if size-2 < minSize || d.MeasureString(s) <= limit {
			break
		}
	}
	if d.MeasureString(s) > limit {
		r := []rune(s)
		for len(r) > 0 && d.MeasureString(string(r)+"…") > limit {
			r = r[:len(r)-1]
		}
		s = string(r) + "…"
	}
	d.DrawString(s)
}

// stampArea is where the stamp boxes go.
var stampArea = image.Rect(cardMargin, 180, cardMargin+cardTextW, 420)

// stampRects lays out required boxes in rows of five (ten when there are
// more than ten), as large as area allows.
func stampRects(area image.Rectangle, required int) []image.Rectangle {
	const gap = 14
	perRow := 5
	if required > 10 {
		perRow = 10
	}
	rows := (required + perRow - 1) / perRow
	box := min((area.Dx()-(perRow-1)*gap)/perRow, (area.Dy()-(rows-1)*gap)/rows)
	rs := make([]image.Rectangle, required)
	for i := range rs {
		p := area.Min.Add(image.Pt((i%perRow)*(box+gap), (i/perRow)*(box+gap)))
		rs[i] = image.Rectangle{p, p.Add(image.Pt(box, box))}
	}
	return rs
}

// stampBoxes draws required boxes in area, the first filled ones solid.
func stampBoxes(dst *image.RGBA, area image.Rectangle, filled, required int) {
	for i, r := range stampRects(area, required) {
		if i < filled {
			draw.Draw(dst, r, image.NewUniform(accent), image.Point{}, draw.Src)
		} else {
			border(dst, r, 3, accent)
		}
	}
}

// border draws a rectangle outline of thickness t inside r.
func border(dst draw.Image, r image.Rectangle, t int, c color.Color) {
	u := image.NewUniform(c)
	for _, side := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+t)},
		{image.Pt(r.Min.X, r.Max.Y-t), r.Max},
		{r.Min, image.Pt(r.Min.X+t, r.Max.Y)},
		{image.Pt(r.Max.X-t, r.Min.Y), r.Max},
	} {
		draw.Draw(dst, side, u, image.Point{}, draw.Src)
	}
}
