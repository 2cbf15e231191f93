package rpc

import (
	"strings"
	"testing"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
)

// Every value of the API's report enums stands for the clearing's section
// or kind of the same name, which is what the CSV export writes.
func TestReportEnumsNameTheClearingsSectionsAndKinds(t *testing.T) {
	for n, name := range coalitionv1.ReportSection_name {
		if n == 0 {
			continue
		}
		s := clearing.Section(strings.ToLower(strings.TrimPrefix(name, "REPORT_SECTION_")))
		if got, ok := sectionPB[s]; !ok || int32(got) != n {
			t.Errorf("section %q maps to %v, want %s", s, got, name)
		}
	}
	if len(sectionPB) != len(coalitionv1.ReportSection_name)-1 {
		t.Errorf("%d sections map to %d enum values", len(sectionPB), len(coalitionv1.ReportSection_name)-1)
	}
	for n, name := range coalitionv1.LineKind_name {
		if n == 0 {
			continue
		}
		k := clearing.Kind(strings.ToLower(strings.TrimPrefix(name, "LINE_KIND_")))
		if got, ok := lineKindPB[k]; !ok || int32(got) != n {
			t.Errorf("kind %q maps to %v, want %s", k, got, name)
		}
	}
	if len(lineKindPB) != len(coalitionv1.LineKind_name)-1 {
		t.Errorf("%d kinds map to %d enum values", len(lineKindPB), len(coalitionv1.LineKind_name)-1)
	}
}
