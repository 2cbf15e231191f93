package payments_test

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

func TestInstructionsCSVReadsBackToTheSameInstructions(t *testing.T) {
	formula := books
	formula.Code, formula.Name = "formula", "=HYPERLINK(\"http://x\")"
	quoted := books
	quoted.Code, quoted.Name, quoted.IBAN = "quoted", "'-quoted", "BE68539007547034"
	ins := append(hubPayments(),
		pay("2026-11-29", "2026-11-29", operator, formula, 100, "2026-12-01"),
		pay("2026-11-29", "2026-11-29", operator, quoted, 100, "2026-12-01"),
	)
	ins[1].DueDate = day("2026-12-15")

	var buf bytes.Buffer
	if err := payments.WriteInstructionsCSV(&buf, ins); err != nil {
		t.Fatal(err)
	}
	back, err := payments.ReadInstructionsCSV(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	// The operator's IBAN was given in print form; it comes back as
	// written in files.
	want := slices.Clone(ins)
	for i := range want {
		if want[i].Debtor.IBAN == operator.IBAN {
			want[i].Debtor.IBAN = "DE89370400440532013000"
		}
	}
	if !slices.Equal(back, want) {
		t.Errorf("read back\n got %+v\nwant %+v", back, want)
	}

	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], payments.InstructionCSVHeader) || len(rows) != len(ins)+1 {
		t.Fatalf("header %v and %d rows, want InstructionCSVHeader and %d", rows[0], len(rows), len(ins)+1)
	}
	col := func(name string) int { return slices.Index(payments.InstructionCSVHeader, name) }
	if got := rows[1][col("amount")]; got != "12345.67" {
		t.Errorf("amount %q, want the decimal 12345.67", got)
	}
	if got := rows[5][col("amount")] + " " + rows[5][col("currency")]; got != "98765 JPY" {
		t.Errorf("yen amount %q, want 98765 JPY", got)
	}
	if got := rows[6][col("creditor_name")]; !strings.HasPrefix(got, "'=") {
		t.Errorf("creditor name %q would run as a formula in a spreadsheet", got)
	}
}

func TestInstructionsCSVRefusesBadRowsNamingThem(t *testing.T) {
	var buf bytes.Buffer
	if err := payments.WriteInstructionsCSV(&buf, hubPayments()[:1]); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	for _, tc := range []struct {
		from, to, field string
	}{
		{"12345.67", "12345.678", "row 2.amount"},
		{"FR1420041010050500013M02606", "FR1420041010050500013M02607", "row 2.creditor.iban"},
		{"2026-12-01", "2026-13-01", "row 2.execution_date"},
	} {
		_, err := payments.ReadInstructionsCSV(strings.NewReader(strings.Replace(good, tc.from, tc.to, 1)))
		if e, ok := coalition.AsError(err); !ok || e.Field != tc.field {
			t.Errorf("%s → %s: error %v, want one on %s", tc.from, tc.to, err, tc.field)
		}
	}
	bad := hubPayments()[:1]
	bad[0].Amount.Minor = 0
	if err := payments.WriteInstructionsCSV(&bytes.Buffer{}, bad); err == nil {
		t.Error("wrote an instruction of zero")
	}
}
