package rpc_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// clearDay posts a day of traffic (the café's points spent at the cinema)
// and clears it, as the nightly job would.
func (e *env) clearDay() string {
	e.t.Helper()
	m := e.enroll("cafe")
	e.accrue("cafe", m, 100_000) // 50 points issued by the café
	e.redeem("cinema", m, 30)    // 30 of them spent at the cinema
	e.clock.Advance(24 * time.Hour)
	if _, err := e.clearing.RunDue(e.as("cafe")); err != nil {
		e.t.Fatal(err)
	}
	return start.Format(time.DateOnly)
}

func TestFinanceReadsReportsStatementsCSVAndDrillsDown(t *testing.T) {
	e := newEnv(t)
	day := e.clearDay()
	finance := e.as("role=finance")
	ws, err := e.settle.ListWindows(finance, &pb.ListWindowsRequest{})
	if err != nil || len(ws.Windows) != 2 || !ws.Windows[1].Cleared || ws.Windows[1].BusinessDate != day {
		t.Fatalf("windows = %v, %v", ws, err)
	}
	rep, err := e.settle.GetReport(finance, &pb.GetReportRequest{BusinessDate: day})
	if err != nil {
		t.Fatal(err)
	}
	nets := map[string]int64{}
	for _, n := range rep.Report.Nets {
		nets[n.Party] = n.NetMinor
	}
	if nets["cafe"] != -3000 || nets["cinema"] != 3000 || nets["fuel"] != 0 || nets["operator"] != 0 {
		t.Fatalf("nets = %v; want the café to owe the cinema 30.00", nets)
	}
	// The CSV, streamed, says the same; its money lines sum to the nets.
	stream, err := e.settle.ExportReport(finance, &pb.ExportReportRequest{BusinessDate: day})
	if err != nil {
		t.Fatal(err)
	}
	file := readExport(t, stream)
	rows, err := csv.NewReader(file).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	moved := map[string]int64{}
	var flowLine string
	for _, r := range rows[1:] {
		if r[0] == "flow" || r[0] == "fee" {
			n, _ := strconv.ParseInt(r[6], 10, 64)
			moved[r[2]] -= n
			moved[r[3]] += n
			if r[0] == "flow" {
				flowLine = r[1]
			}
		}
	}
	if moved["cafe"] != nets["cafe"] || moved["cinema"] != nets["cinema"] {
		t.Fatalf("CSV money lines give %v, the report's nets %v", moved, nets)
	}
	// The report's lines are the CSV's rows: section and kind as enums,
	// and as the strings v1 had first.
	if len(rep.Report.Lines) != len(rows)-1 {
		t.Fatalf("%d report lines, %d CSV rows", len(rep.Report.Lines), len(rows)-1)
	}
	for i, l := range rep.Report.Lines {
		section := strings.ToLower(strings.TrimPrefix(l.GetReportSection().String(), "REPORT_SECTION_"))
		kind := strings.ToLower(strings.TrimPrefix(l.GetLineKind().String(), "LINE_KIND_"))
		//lint:ignore SA1019 the deprecated strings still say the same
		v1Section, v1Kind := l.Section, l.Kind
		r := rows[i+1]
		if r[0] != section || r[1] != l.GetId() || r[4] != kind || r[0] != v1Section || r[4] != v1Kind {
			t.Errorf("line %s is %v %v (%q %q), its CSV row %v", l.GetId(), l.GetReportSection(), l.GetLineKind(), v1Section, v1Kind, r)
		}
	}
	// From the CSV line down to the ledger.
	dd, err := e.settle.DrillDown(finance, &pb.DrillDownRequest{BusinessDate: day, Line: flowLine})
	if err != nil {
		t.Fatal(err)
	}
	if len(dd.Postings) != 1 || dd.Postings[0].Points != 30 || dd.Postings[0].Kind != "burn" || dd.Postings[0].Partner != "cinema" {
		t.Fatalf("drill-down of %s = %v", flowLine, dd)
	}
	st, err := e.settle.GetPartnerStatement(finance, &pb.GetPartnerStatementRequest{BusinessDate: day, Partner: "cinema"})
	if err != nil || len(st.Statement.Nets) != 1 || st.Statement.Nets[0].NetMinor != 3000 {
		t.Fatalf("cinema's statement = %v, %v", st, err)
	}
	if st.Statement.Sha256 != rep.Report.Sha256 || len(rep.Report.Sha256) != 64 {
		t.Fatal("statement and report name different stored reports")
	}
}

func TestAPartnerReadsOnlyItsOwnStatement(t *testing.T) {
	e := newEnv(t)
	day := e.clearDay()
	cinema := e.as("cinema")
	st, err := e.settle.GetPartnerStatement(cinema, &pb.GetPartnerStatementRequest{BusinessDate: day, Partner: "cinema"})
	if err != nil || st.Statement.Nets[0].Party != "cinema" {
		t.Fatalf("own statement = %v, %v", st, err)
	}
	_, err = e.settle.GetPartnerStatement(cinema, &pb.GetPartnerStatementRequest{BusinessDate: day, Partner: "cafe"})
	wantStatus(t, err, codes.PermissionDenied, "")
	_, err = e.settle.GetReport(cinema, &pb.GetReportRequest{BusinessDate: day})
	wantStatus(t, err, codes.PermissionDenied, "")
	// An export for a partner is its statement only.
	stream, err := e.settle.ExportReport(e.as("fuel"), &pb.ExportReportRequest{BusinessDate: day})
	if err != nil {
		t.Fatal(err)
	}
	file := readExport(t, stream)
	rows, _ := csv.NewReader(file).ReadAll()
	for _, r := range rows[1:] {
		if r[2] == "cafe" || r[3] == "cafe" || r[2] == "cinema" || r[3] == "cinema" {
			t.Fatalf("the fuel station's export shows another partner's line %v", r)
		}
	}
	// A report not yet cleared, and a malformed date.
	_, err = e.settle.GetReport(e.as("role=finance"), &pb.GetReportRequest{BusinessDate: "2030-01-01"})
	wantStatus(t, err, codes.NotFound, "business_date")
	_, err = e.settle.GetReport(e.as("role=finance"), &pb.GetReportRequest{BusinessDate: "yesterday"})
	wantStatus(t, err, codes.InvalidArgument, "business_date")
	// Finance staff are not partners.
	_, err = e.client.GetBalance(e.as("role=finance"), &pb.GetBalanceRequest{Member: byID(e.enroll("cafe"))})
	wantStatus(t, err, codes.PermissionDenied, "")
}

func TestAStreamedExportValidatesItsRequest(t *testing.T) {
	e := newEnv(t)
	stream, err := e.settle.ExportReport(e.as("role=finance"), &pb.ExportReportRequest{BusinessDate: "25.11.2026"})
	if err == nil {
		_, err = stream.Recv()
	}
	wantStatus(t, err, codes.InvalidArgument, "business_date")
}

// readExport reads a streamed CSV export to its end.
func readExport(t *testing.T, stream grpc.ServerStreamingClient[pb.ExportReportResponse]) *bytes.Buffer {
	t.Helper()
	var file bytes.Buffer
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return &file
		}
		if err != nil {
			t.Fatal(err)
		}
		file.Write(chunk.Data)
	}
}
