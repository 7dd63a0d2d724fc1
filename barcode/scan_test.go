package barcode

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"testing"

	"github.com/stampseal/stampseal/internal/scan"
)

// zxingRead decodes img with ZXing-cpp (see internal/scan).
func zxingRead(t *testing.T, img image.Image, format string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return scan.ZXing(t, buf.Bytes(), format)
}

// TestEverySymbologyScans draws codes of many lengths in every symbology
// stampseal offers and reads them back with a decoder it did not write.
// PDF417 failed here for every code whose symbol had a row count that is
// not a multiple of 3 (see pdf417.go); the lengths below cover all three
// remainders and the largest symbols.
func TestEverySymbologyScans(t *testing.T) {
	lengths := map[Symbology][]int{QR: {40, 400}, Aztec: {40, 400}, DataMatrix: {40, 400}, PDF417: {40, 100, 172, 184, 280, 400}}
	for _, sym := range []Symbology{QR, Aztec, DataMatrix, PDF417} {
		remainders := map[int]bool{}
		for _, n := range lengths[sym] {
			for seed := range uint64(2) {
				content := testCode(n, seed)
				t.Run(fmt.Sprintf("%s/%d chars/seed %d", sym, n, seed), func(t *testing.T) {
					size := 600
					if sym == PDF417 {
						rows, err := encodePDF417(content)
						if err != nil {
							t.Fatal(err)
						}
						remainders[len(rows)%3] = true
						size = 1200 // wide symbols; at 600 px the largest have 1-pixel modules
					}
					b, err := Render(content, sym, size)
					if err != nil {
						t.Fatalf("Render: %v", err)
					}
					if got := decode(t, decodePNG(t, b), sym); got != content {
						t.Fatalf("decoded %q, want %q", got, content)
					}
				})
			}
		}
		if sym == PDF417 && len(remainders) != 3 {
			t.Errorf("the PDF417 symbols had row counts with remainders %v mod 3; want all three covered", remainders)
		}
	}
	short := "K7QF-3MZ9-W2XD"
	b, err := Render(short, Code128, DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, decodePNG(t, b), Code128); got != short {
		t.Fatalf("Code 128 decoded %q, want %q", got, short)
	}
}
