package web

import (
	"testing"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// A Russian report writes rates as it writes money, with a decimal comma,
// and names kinds and parties in words, not codes.
func TestAReportReadsInItsLanguage(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtBP("ru", 100), "1,00\u00a0%"},
		{fmtMoney("ru", 100, "RUB"), "1,00\u00a0₽"},
		{fmtBP("en", 1250), "12.50\u00a0%"},
		{fmtBP("en", -50), "−0.50\u00a0%"},
		{lineKind("ru", coalitionv1.LineKind_LINE_KIND_INTERCHANGE), "комиссия за обмен"},
		{lineKind("en", coalitionv1.LineKind_LINE_KIND_SELF_BURN), "spent where issued"},
		{section("ru", coalitionv1.ReportSection_REPORT_SECTION_FLOW), "поток"},
		{party(map[string]string{"cafe": "Coffee Corner"}, "cafe"), "Coffee Corner"},
		{party(nil, "cafe"), "cafe"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
	// Every kind and section has words in both languages.
	for k := range coalitionv1.LineKind_name {
		kind := coalitionv1.LineKind(k)
		if kind == coalitionv1.LineKind_LINE_KIND_UNSPECIFIED {
			continue
		}
		if en, ru := lineKind("en", kind), lineKind("ru", kind); en == ru {
			t.Errorf("%s has no Russian words: %q", kind, ru)
		}
	}
	for k := range coalitionv1.ReportSection_name {
		sec := coalitionv1.ReportSection(k)
		if sec == coalitionv1.ReportSection_REPORT_SECTION_UNSPECIFIED {
			continue
		}
		if en, ru := section("en", sec), section("ru", sec); en == ru {
			t.Errorf("%s has no Russian words: %q", sec, ru)
		}
	}
}
