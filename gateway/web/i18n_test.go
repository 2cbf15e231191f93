package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/finance"
	"github.com/coalition-loyalty/coalition/settlement/payments"
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

// Every text the pages name has words in both languages: each key the
// templates and the handlers use, and each value of the finance API that
// the finance pages name by a key of its own.
func TestEveryTextOfThePagesIsInEnglishAndRussian(t *testing.T) {
	for key, m := range messages {
		if strings.TrimSpace(m[0]) == "" || strings.TrimSpace(m[1]) == "" {
			t.Errorf("%q lacks a language: %q", key, m)
		}
	}
	used := map[string]bool{}
	keyRE := regexp.MustCompile(`call (?:\$t|\.T|\$\.T) "([^"]+)"`)
	tpls, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range tpls {
		b, err := fs.ReadFile(templateFS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	// The handlers' keys: titles, errors and refusals made here.
	goKeyRE := regexp.MustCompile(`"((?:finops|error|finance|report|drill|operator|member|signin|link|home|join|portal)\.[a-z0-9_.]*[a-z0-9_])"`)
	srcs, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range srcs {
		if strings.HasSuffix(name, "_test.go") || name == "i18n.go" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goKeyRE.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for _, v := range []string{"open", "paid", "partly_paid", "overpaid", "proposed", "approved", "rejected", "confirmed", "superseded"} {
		used["finops.status."+v] = true
	}
	for _, v := range []string{"pay", "collect", "none"} {
		used["finops.direction."+v] = true
	}
	for _, v := range []string{"receivable", "payable"} {
		used["finops.side."+v] = true
	}
	for _, v := range []payments.Reason{payments.ReasonNoID, payments.ReasonUnknownID, payments.ReasonCurrency, payments.ReasonDirection} {
		used["finops.reason."+string(v)] = true
	}
	for _, v := range []string{"partner", "partner-admin", "partner-finance", "partner-marketing"} {
		used["portal.role."+v] = true
	}
	for _, v := range []string{"active", "expires", "revoked"} {
		used["portal.state."+v] = true
	}
	for _, v := range []string{"credit", "debit"} {
		used["finops.linedir."+v] = true
	}
	for _, f := range []coalitionv1.PaymentFrequency{coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_DAILY,
		coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_WEEKLY, coalitionv1.PaymentFrequency_PAYMENT_FREQUENCY_MONTHLY} {
		if en, ru := translator("en")("finops.freq."+strings.ToLower(strings.TrimPrefix(f.String(), "PAYMENT_FREQUENCY_"))), funcs["freq"].(func(string, coalitionv1.PaymentFrequency) string)("ru", f); en == ru {
			t.Errorf("%s has no Russian words: %q", f, ru)
		}
	}
	for _, b := range finance.AgeingBuckets {
		used["finops.bucket."+b] = true
	}
	if len(used) < 100 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
	for key := range used {
		if _, ok := messages[key]; !ok {
			t.Errorf("%q is used but has no texts", key)
		}
	}
}

// The liability CSV the pages write has the columns of the one package
// finance writes.
func TestTheLiabilityCSVHasTheColumnsOfFinances(t *testing.T) {
	if !slices.Equal(liabilityCSVHeader, finance.LiabilityCSVHeader) {
		t.Fatalf("pages' liability CSV header\n%q\nfinance's\n%q", liabilityCSVHeader, finance.LiabilityCSVHeader)
	}
	if n := len(finance.AgeingBuckets); len(liabilityCSVHeader) != 14+n {
		t.Fatalf("%d ageing buckets, but the header has %d ageing columns", n, len(liabilityCSVHeader)-14)
	}
}

func TestAmountsTypedInMajorUnits(t *testing.T) {
	for in, want := range map[string]int64{"30": 3000, "30.5": 3050, "30,05": 3005, "1 234,56": 123456, "1\u202f234.00": 123400, " 0.01 ": 1} {
		if got, ok := parseMinor(in); !ok || got != want {
			t.Errorf("parseMinor(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "0", "0.00", "-5", "1.234", "1e3", "abc", ".5", "1.2.3", "99999999999999999"} {
		if got, ok := parseMinor(in); ok {
			t.Errorf("parseMinor(%q) = %d, want refused", in, got)
		}
	}
}
