package web

import (
	"fmt"
	"html/template"
	"strings"
)

// flowChart draws the money between partners as horizontal bars, one per
// issuer → redeemer pair, longest for the largest flow. Bars read better
// than a chord diagram for a handful of partners, and the numbers are on
// the bars and in the matrix beside it, so the chart is never the only way
// to read them.
func flowChart(m matrix, currency, lang string) template.HTML {
	type bar struct {
		label string
		minor int64
	}
	var bars []bar
	var max int64
	for _, from := range m.Issuers {
		for _, to := range m.Redeemers {
			if v := m.Cells[from][to]; v != 0 {
				bars = append(bars, bar{from + " → " + to, v})
				if abs(v) > max {
					max = abs(v)
				}
			}
		}
	}
	if len(bars) == 0 {
		return ""
	}
	const width, labelW, rowH, valueW = 640, 180, 28, 130
	barSpace := width - labelW - valueW
	h := len(bars)*rowH + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title"><title id="chart-title">%s</title>`,
		width, h, template.HTMLEscapeString(translator(lang)("report.chart")))
	for i, br := range bars {
		y := 4 + i*rowH
		w := int64(barSpace) * abs(br.minor) / max
		if w < 2 {
			w = 2
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="chart-label">%s</text>`, labelW-8, y+18, template.HTMLEscapeString(br.label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="3" class="chart-bar"/>`, labelW, y+4, w, rowH-10)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="chart-value">%s</text>`, labelW+int(w)+6, y+18,
			template.HTMLEscapeString(fmtMoney(lang, br.minor, currency)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
