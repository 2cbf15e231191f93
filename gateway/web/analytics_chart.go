package web

import (
	"fmt"
	"html/template"
	"slices"
	"strings"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The analytics pages' charts, drawn on the server as SVG (no script runs
// on the pages). Each has its numbers on it and in a table beside it with
// a CSV export, so a chart is never the only way to read a figure.

// svgOpen starts a chart of the given height, titled for screen readers.
func svgOpen(b *strings.Builder, id string, width, height int, title string) {
	fmt.Fprintf(b, `<svg class="chart" id="%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title"><title id="%s-title">%s</title>`,
		id, width, height, id, id, template.HTMLEscapeString(title))
}

func barWidth(space int, v, max int64) int64 {
	if max <= 0 || v <= 0 {
		return 0
	}
	w := int64(space) * v / max
	if w < 2 {
		w = 2
	}
	return w
}

// compareChart draws each charted figure as two bars, this period's over
// the previous one's, each row scaled to its own larger value: the figures
// differ in unit and size, and what the eye should compare is the two bars
// of a row.
func compareChart(rows []figureRow, currency, lang string) template.HTML {
	t := translator(lang)
	const width, labelW, rowH, valueW = 720, 280, 34, 120
	space := width - labelW - valueW
	var charted []figureRow
	for _, f := range rows {
		if f.Chart && (f.Cur != 0 || f.Prev != 0) {
			charted = append(charted, f)
		}
	}
	if len(charted) == 0 {
		return ""
	}
	var b strings.Builder
	svgOpen(&b, "chart-compare", width, len(charted)*rowH+28, t("analytics.chart.compare"))
	fmt.Fprintf(&b, `<rect x="%d" y="4" width="10" height="10" class="chart-bar"/><text x="%d" y="13" class="chart-value">%s</text>`,
		labelW, labelW+14, template.HTMLEscapeString(t("analytics.current")))
	fmt.Fprintf(&b, `<rect x="%d" y="4" width="10" height="10" class="chart-bar" fill-opacity="0.35"/><text x="%d" y="13" class="chart-value">%s</text>`,
		labelW+150, labelW+164, template.HTMLEscapeString(t("analytics.previous")))
	for i, f := range charted {
		y := 24 + i*rowH
		max := f.Cur
		if f.Prev > max {
			max = f.Prev
		}
		value := func(n int64) string {
			if f.Kind == "money" {
				return fmtMoney(lang, n, currency)
			}
			return fmtPoints(n)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="chart-label">%s</text>`, labelW-8, y+18, template.HTMLEscapeString(t(f.Key)))
		for j, v := range []int64{f.Cur, f.Prev} {
			w := barWidth(space, v, max)
			opacity := ""
			if j == 1 {
				opacity = ` fill-opacity="0.35"`
			}
			by := y + 3 + j*14
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="12" rx="2" class="chart-bar"%s/>`, labelW, by, w, opacity)
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="chart-value">%s</text>`, labelW+int(w)+6, by+10, template.HTMLEscapeString(value(v)))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

type labelledBar struct {
	label string
	n     int64
	note  string // shown instead of the number (a suppressed cell)
}

// bars draws labelled horizontal bars, longest for the largest.
func bars(id, title string, items []labelledBar) template.HTML {
	if len(items) == 0 {
		return ""
	}
	const width, labelW, rowH, valueW = 640, 220, 26, 90
	space := width - labelW - valueW
	var max int64
	for _, it := range items {
		if it.n > max {
			max = it.n
		}
	}
	var b strings.Builder
	svgOpen(&b, id, width, len(items)*rowH+8, title)
	for i, it := range items {
		y := 4 + i*rowH
		w := barWidth(space, it.n, max)
		value := fmtPoints(it.n)
		if it.note != "" {
			value = it.note
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="chart-label">%s</text>`, labelW-8, y+17, template.HTMLEscapeString(it.label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" rx="3" class="chart-bar"/>`, labelW, y+4, w, rowH-10)
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="chart-value">%s</text>`, labelW+int(w)+6, y+17, template.HTMLEscapeString(value))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// acquisitionChart: members acquired by partner, channel and point of sale.
func acquisitionChart(as []*coalitionv1.Acquisition, lang string) template.HTML {
	t := translator(lang)
	var items []labelledBar
	for _, a := range as {
		label := a.GetPartner() + " · " + t("analytics.channel."+a.GetChannel())
		if a.GetLocation() != "" {
			label += " · " + a.GetLocation()
		}
		items = append(items, labelledBar{label: label, n: a.GetMembers()})
	}
	return bars("chart-acquisition", t("analytics.chart.acquisition"), items)
}

// crossChart: members of one partner who bought at another (a partner's
// own members at its own till left out: that is its active base, not
// cross-shopping).
func crossChart(cs []*coalitionv1.CrossShopping, lang string) template.HTML {
	t := translator(lang)
	var items []labelledBar
	for _, c := range cs {
		if c.GetHome() == c.GetAt() {
			continue
		}
		it := labelledBar{label: c.GetHome() + " → " + c.GetAt(), n: c.GetMembers()}
		if c.GetSuppressed() {
			it.note = t("analytics.suppressed")
		}
		items = append(items, it)
	}
	return bars("chart-cross", t("analytics.chart.cross"), items)
}

// cohortChart is the retention heatmap: a row per enrolment month, a
// column per activity month, each cell as dark as its retention.
func cohortChart(cs []*coalitionv1.Cohort, lang string) template.HTML {
	if len(cs) == 0 {
		return ""
	}
	t := translator(lang)
	var enrol, act []string
	for _, c := range cs {
		if !slices.Contains(enrol, c.GetEnrolmentMonth()) {
			enrol = append(enrol, c.GetEnrolmentMonth())
		}
		if !slices.Contains(act, c.GetActivityMonth()) {
			act = append(act, c.GetActivityMonth())
		}
	}
	slices.Sort(enrol)
	slices.Sort(act)
	const labelW, cellW, cellH, top = 90, 84, 30, 26
	// At least as wide as the other charts, so that a small map is drawn
	// at their scale rather than stretched to the page's width.
	width, height := max(640, labelW+len(act)*cellW+8), top+len(enrol)*cellH+8
	var b strings.Builder
	svgOpen(&b, "chart-cohorts", width, height, t("analytics.chart.cohorts"))
	for j, m := range act {
		fmt.Fprintf(&b, `<text x="%d" y="18" text-anchor="middle" class="chart-label">%s</text>`, labelW+j*cellW+cellW/2, m[:7])
	}
	for i, m := range enrol {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" class="chart-label">%s</text>`, labelW-8, top+i*cellH+20, m[:7])
	}
	for _, c := range cs {
		i, j := slices.Index(enrol, c.GetEnrolmentMonth()), slices.Index(act, c.GetActivityMonth())
		x, y := labelW+j*cellW, top+i*cellH
		// Opacity in tenths of the cell's retention, at least a tenth so
		// that a cell with anyone in it shows.
		op := 1 + c.GetRetentionBp()*9/10_000
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" class="chart-bar" fill-opacity="0.%d" data-retention="%d"/>`,
			x+1, y+1, cellW-2, cellH-2, min(op, 9), c.GetRetentionBp())
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" class="chart-value">%s</text>`, x+cellW/2, y+20,
			template.HTMLEscapeString(fmtBP(lang, c.GetRetentionBp())))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
