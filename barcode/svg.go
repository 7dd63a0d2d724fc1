package barcode

import (
	"bytes"
	"fmt"
)

// RenderSVG returns content as a sym barcode in SVG, for print shops. The
// view box is in modules, quiet zone included, so the symbol scales cleanly
// to any print size; width and height say size pixels wide (and high, for
// square symbols) as Render does. Dark modules are drawn as rectangles, one
// per horizontal run, with identical rows merged into one band. Errors are
// those of Render.
func RenderSVG(content string, sym Symbology, size int) ([]byte, error) {
	m, err := encode(content, sym)
	if err != nil {
		return nil, err
	}
	if _, err := m.place(size); err != nil {
		return nil, err
	}
	tw, th := m.w+2*m.qx, m.h+2*m.qy
	vx, vy := -m.qx, -m.qy // view box origin, so module (0,0) is at 0,0
	height := size * th / tw
	if m.square {
		// Centre in a square view box like the PNG.
		side := max(tw, th)
		vx -= (side - tw) / 2
		vy -= (side - th) / 2
		tw, th, height = side, side, size
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="%d %d %d %d" shape-rendering="crispEdges">`+"\n",
		size, height, vx, vy, tw, th)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fff"/>`+"\n", vx, vy, tw, th)
	b.WriteString(`<g fill="#000">` + "\n")
	m.runs(func(x, y, w, h int) {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d"/>`+"\n", x, y, w, h)
	})
	b.WriteString("</g>\n</svg>\n")
	return b.Bytes(), nil
}
