package web

import (
	"html/template"
	"strings"
	"testing"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// The pages name a report line's section and kind in the page's language,
// never as the API's enum names, and its parties by name.
func TestPagesNameLineSectionsKindsAndPartiesInTheirLanguage(t *testing.T) {
	ptr := func(n int64) *int64 { return &n }
	line := &coalitionv1.ReportLine{ReportSection: coalitionv1.ReportSection_REPORT_SECTION_FLOW, Id: "F1", Payer: "cinema",
		Payee: "cinema", LineKind: coalitionv1.LineKind_LINE_KIND_SELF_BURN, Points: ptr(5), AmountMinor: ptr(0)}
	fee := &coalitionv1.ReportLine{ReportSection: coalitionv1.ReportSection_REPORT_SECTION_FEE, Id: "X1", Payer: "cafe",
		Payee: "operator", LineKind: coalitionv1.LineKind_LINE_KIND_INTERCHANGE, AmountMinor: ptr(50), BasisPoints: ptr(100), BaseMinor: ptr(5000)}
	names := map[string]string{"cinema": "Star Cinema", "cafe": "Coffee Corner"}
	report := reportData{Report: &coalitionv1.SettlementReport{BusinessDate: "2026-03-10", Currency: "RUB"},
		Flows: []*coalitionv1.ReportLine{line}, Fees: []*coalitionv1.ReportLine{fee}, Names: names}
	for _, tc := range []struct {
		page, lang string
		data       any
		want       []string
	}{
		{"drill", "en", drillData{Date: "2026-03-10", Line: line, Names: names}, []string{"· flow ·", "· spent where issued", "Star Cinema"}},
		{"report", "en", report, []string{"<td>spent where issued</td>", "<td>interchange fee</td>", "<td>Coffee Corner</td>", "1.00\u00a0%"}},
		{"report", "ru", report, []string{"<td>списание у эмитента</td>", "<td>комиссия за обмен</td>", "1,00\u00a0%", "50,00\u00a0₽"}},
	} {
		tpl, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+tc.page+".html")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tpl.Execute(&b, page{Lang: tc.lang, T: translator(tc.lang), Data: tc.data}); err != nil {
			t.Fatalf("%s: %v", tc.page, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s page in %s lacks %q", tc.page, tc.lang, w)
			}
		}
		if strings.Contains(b.String(), "LINE_KIND_") || strings.Contains(b.String(), "REPORT_SECTION_") {
			t.Errorf("%s page shows an enum's name", tc.page)
		}
	}
}
