package barcode

import (
	"errors"
	"image/color"
	"strings"
	"testing"
)

func TestCardPNG(t *testing.T) {
	code := testCode(180, 20)
	tests := map[string]CardFace{
		"ten-stamp card with seven stamps shows them and scans": {
			Merchant: "Bakery Ruth", Program: "Ten coffees, one free",
			Code: code, ShortCode: "K7QF-3MZ9-W2XD", Stamps: 7, StampsRequired: 10,
		},
		"new card with no stamps scans": {
			Merchant: "Bäckerei Müller & Söhne", Program: "Fünf Brezeln, eine gratis",
			Code: code, ShortCode: "0000-0000-0000", Stamps: 0, StampsRequired: 5,
		},
		"full thirty-stamp card with long names scans": {
			Merchant: strings.Repeat("Very Long Merchant Name ", 5), Program: strings.Repeat("program ", 20),
			Code: code, ShortCode: "ZZZZ-ZZZZ-ZZZK", Stamps: 30, StampsRequired: 30,
		},
		"card without a short code scans": {
			Merchant: "Cafe", Code: code, Stamps: 1, StampsRequired: 1,
		},
	}
	for name, face := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := CardPNG(face)
			if err != nil {
				t.Fatalf("CardPNG: %v", err)
			}
			img := decodePNG(t, b)
			if got := img.Bounds().Size(); got.X != CardWidth || got.Y != CardHeight {
				t.Errorf("card is %v, want %dx%d", got, CardWidth, CardHeight)
			}
			if got := decode(t, img, QR); got != face.Code {
				t.Errorf("card QR decoded %q, want %q", got, face.Code)
			}
			filled := 0
			for _, r := range stampRects(stampArea, face.StampsRequired) {
				c := color.RGBAModel.Convert(img.At((r.Min.X+r.Max.X)/2, (r.Min.Y+r.Max.Y)/2)).(color.RGBA)
				if c == accent {
					filled++
				}
			}
			if filled != face.Stamps {
				t.Errorf("%d boxes filled, want %d", filled, face.Stamps)
			}
		})
	}
}

func TestCardPNGErrors(t *testing.T) {
	code := testCode(180, 21)
	tests := map[string]struct {
		face CardFace
		want error
	}{
		"more stamps than required is refused":  {CardFace{Code: code, Stamps: 11, StampsRequired: 10}, ErrBadCard},
		"negative stamps are refused":           {CardFace{Code: code, Stamps: -1, StampsRequired: 10}, ErrBadCard},
		"no stamps required is refused":         {CardFace{Code: code, StampsRequired: 0}, ErrBadCard},
		"more boxes than fit is refused":        {CardFace{Code: code, StampsRequired: MaxStamps + 1}, ErrBadCard},
		"a card without a code is refused":      {CardFace{StampsRequired: 10}, ErrBadContent},
		"a code longer than MaxContent refused": {CardFace{Code: strings.Repeat("A", MaxContent+1), StampsRequired: 10}, ErrBadContent},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := CardPNG(tt.face); !errors.Is(err, tt.want) {
				t.Errorf("CardPNG error = %v, want %v", err, tt.want)
			}
		})
	}
}

func BenchmarkCardPNG(b *testing.B) {
	face := CardFace{Merchant: "Bakery Ruth", Program: "Ten coffees, one free",
		Code: testCode(180, 22), ShortCode: "K7QF-3MZ9-W2XD", Stamps: 7, StampsRequired: 10}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CardPNG(face); err != nil {
			b.Fatal(err)
		}
	}
}
