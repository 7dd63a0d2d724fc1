package web

import (
	"fmt"
	"html/template"
	"strings"
)

// chart is a small server-rendered SVG chart: no script, no style
// attribute (the page's CSP forbids inline styles), every value also in
// the markup as data-value and as a tooltip title, for readers, tests and
// screen readers alike.
type chart struct {
	ID     string
	Title  string
	Labels []string // one per point, x axis
	Series []series
	Bars   bool // bars instead of lines (one series)
}

type series struct {
	Name   string
	Class  string // CSS class: colour
	Values []int
}

const (
	chartW, chartH         = 640, 220
	padL, padR, padT, padB = 40, 12, 12, 34
	plotW, plotH           = chartW - padL - padR, chartH - padT - padB
)

// niceMax rounds the largest value up to a round axis top.
func niceMax(v int) int {
	if v <= 4 {
		return 4
	}
	step := 1
	for step*10 < v {
		step *= 10
	}
	for _, m := range []int{1, 2, 5, 10} {
		if v <= step*m {
			return step * m
		}
	}
	return step * 10
}

// SVG renders the chart. Labels and names are escaped; numbers are ints.
func (c chart) SVG() template.HTML {
	top := 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			top = max(top, v)
		}
	}
	top = niceMax(top)
	n := len(c.Labels)
	esc := template.HTMLEscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">`,
		esc(c.ID), chartW, chartH, esc(c.ID))
	fmt.Fprintf(&b, `<title id="%s-title">%s</title>`, esc(c.ID), esc(c.Title))
	// Grid and y axis: 0, half, top.
	for i, v := range []int{0, top / 2, top} {
		y := padT + plotH - plotH*i/2
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%d" x2="%d" y2="%d"/>`, padL, y, padL+plotW, y)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%d</text>`, padL-6, y+4, v)
	}
	x := func(i int) float64 {
		if c.Bars {
			return float64(padL) + (float64(i)+0.5)*float64(plotW)/float64(max(n, 1))
		}
		if n <= 1 {
			return float64(padL + plotW/2)
		}
		return float64(padL) + float64(i)*float64(plotW)/float64(n-1)
	}
	y := func(v int) float64 { return float64(padT+plotH) - float64(v)*float64(plotH)/float64(top) }
	// X labels: first, middle, last.
	for _, i := range uniq(0, n/2, n-1) {
		if i < 0 || i >= n {
			continue
		}
		anchor := "middle"
		if i == 0 && !c.Bars {
			anchor = "start"
		} else if i == n-1 && !c.Bars {
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(i), chartH-12, anchor, esc(c.Labels[i]))
	}
	for _, s := range c.Series {
		fmt.Fprintf(&b, `<g class="series %s" data-series="%s">`, esc(s.Class), esc(s.Name))
		if c.Bars {
			w := float64(plotW) / float64(max(n, 1)) * 0.7
			for i, v := range s.Values {
				fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" data-label="%s" data-value="%d"><title>%s: %d</title></rect>`,
					x(i)-w/2, y(v), w, float64(padT+plotH)-y(v), esc(c.Labels[i]), v, esc(c.Labels[i]), v)
			}
		} else {
			var pts []string
			for i, v := range s.Values {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			}
			fmt.Fprintf(&b, `<polyline class="line" fill="none" points="%s"/>`, strings.Join(pts, " "))
			for i, v := range s.Values {
				fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="3" data-label="%s" data-value="%d"><title>%s, %s: %d</title></circle>`,
					x(i), y(v), esc(c.Labels[i]), v, esc(s.Name), esc(c.Labels[i]), v)
			}
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from escaped text and numbers only
}

func uniq(xs ...int) []int {
	var out []int
	for _, x := range xs {
		dup := false
		for _, o := range out {
			dup = dup || o == x
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}
