package barcode

import (
	"encoding/xml"
	"fmt"
	"testing"
)

type svgDoc struct {
	Width   int    `xml:"width,attr"`
	Height  int    `xml:"height,attr"`
	ViewBox string `xml:"viewBox,attr"`
	Back    []struct {
		Fill string `xml:"fill,attr"`
	} `xml:"rect"`
	G struct {
		Rects []struct {
			X int `xml:"x,attr"`
			Y int `xml:"y,attr"`
			W int `xml:"width,attr"`
			H int `xml:"height,attr"`
		} `xml:"rect"`
	} `xml:"g"`
}

// TestRenderSVGKeepsModules parses the SVG and paints its rectangles back
// onto a module grid: each dark module is covered exactly once and no
// light one is.
func TestRenderSVGKeepsModules(t *testing.T) {
	code := testCode(180, 7)
	tests := map[string]struct {
		content    string
		sym        Symbology
		wantHeight int
	}{
		"QR SVG is square and keeps every module":   {code, QR, 300},
		"Aztec SVG keeps every module":              {code, Aztec, 300},
		"Data Matrix SVG keeps every module":        {code, DataMatrix, 300},
		"PDF417 SVG is wide and keeps every module": {code, PDF417, -1},
		"Code 128 SVG draws one rectangle per bar":  {"K7QF-3MZ9-W2XD", Code128, -1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := encode(tt.content, tt.sym)
			if err != nil {
				t.Fatal(err)
			}
			b, err := RenderSVG(tt.content, tt.sym, 300)
			if err != nil {
				t.Fatalf("RenderSVG: %v", err)
			}
			var doc svgDoc
			if err := xml.Unmarshal(b, &doc); err != nil {
				t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
			}
			if doc.Width != 300 {
				t.Errorf("width = %d, want 300", doc.Width)
			}
			if tt.wantHeight > 0 && doc.Height != tt.wantHeight {
				t.Errorf("height = %d, want %d", doc.Height, tt.wantHeight)
			}
			if !m.square && doc.Height >= doc.Width {
				t.Errorf("%dx%d: a %s should be wider than tall", doc.Width, doc.Height, tt.sym)
			}
			if len(doc.Back) != 1 || doc.Back[0].Fill != "#fff" {
				t.Errorf("background rects %+v, want one white", doc.Back)
			}
			var vx, vy, vw, vh int
			if _, err := fmt.Sscan(doc.ViewBox, &vx, &vy, &vw, &vh); err != nil {
				t.Fatalf("viewBox %q: %v", doc.ViewBox, err)
			}
			if -vx < m.qx || -vy < m.qy || vx+vw-m.w < m.qx || vy+vh-m.h < m.qy {
				t.Errorf("viewBox %q leaves less than the quiet zone %d,%d around %dx%d", doc.ViewBox, m.qx, m.qy, m.w, m.h)
			}
			cover := make([]int, m.w*m.h)
			for _, r := range doc.G.Rects {
				for y := r.Y; y < r.Y+r.H; y++ {
					for x := r.X; x < r.X+r.W; x++ {
						if x < 0 || y < 0 || x >= m.w || y >= m.h {
							t.Fatalf("rect %+v outside the %dx%d symbol", r, m.w, m.h)
						}
						cover[y*m.w+x]++
					}
				}
			}
			dark := 0
			for i, d := range m.dark {
				want := 0
				if d {
					want = 1
					dark++
				}
				if cover[i] != want {
					t.Fatalf("module %d,%d covered %d times, want %d", i%m.w, i/m.w, cover[i], want)
				}
			}
			t.Logf("%d dark modules in %d rects, %d bytes", dark, len(doc.G.Rects), len(b))
			if tt.sym == Code128 {
				bars := 0
				for x := range m.w {
					if m.at(x, 0) && (x == 0 || !m.at(x-1, 0)) {
						bars++
					}
				}
				if len(doc.G.Rects) != bars {
					t.Errorf("%d rects for %d bars", len(doc.G.Rects), bars)
				}
			}
		})
	}
}
