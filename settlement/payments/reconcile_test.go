package payments_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

func readCamt(t *testing.T, doc []byte) []payments.StatementLine {
	t.Helper()
	lines, err := payments.ReadCamt(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("ReadCamt: %v\n%s", err, doc)
	}
	return lines
}

func reconcile(t *testing.T, holder string, ins []payments.Instruction, lines []payments.StatementLine) payments.Reconciliation {
	t.Helper()
	r, err := payments.Reconcile(holder, ins, lines)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bookPain books every transaction of a pain.001 the way the debtor's bank
// does: one debit entry each, with its end-to-end id, on the execution day.
func bookPain(t *testing.T, doc painDoc) []byte {
	t.Helper()
	var bookings []booking
	for _, p := range doc.PmtInf {
		for _, tx := range p.Tx {
			bookings = append(bookings, booking{
				ref: fmt.Sprintf("BANKREF-%03d", len(bookings)+1), entryRef: fmt.Sprint(len(bookings) + 1),
				e2e: tx.EndToEndID, amount: tx.Amount.Value, ccy: tx.Amount.Ccy,
				dir: payments.Debit, text: tx.Ustrd, date: p.Date,
			})
		}
	}
	return camtXML(t, "camt.053.001.08", doc.PmtInf[0].IBAN, bookings)
}

func TestEveryInstructionOfAPain001BookedByTheBankIsPaid(t *testing.T) {
	ins := hubPayments()[:4] // the euro account's
	raw, doc := writePain(t, "CO-PAY-20261130-1", ins)
	validateXSD(t, "pain.001.001.09.xsd", raw)
	statement := bookPain(t, doc)
	validateXSD(t, "camt.053.001.08.xsd", statement)

	lines := readCamt(t, statement)
	if len(lines) != len(ins) {
		t.Fatalf("%d statement lines for %d payments", len(lines), len(ins))
	}
	for _, l := range lines {
		if l.Account != "DE89370400440532013000" || l.Direction != payments.Debit || l.Statement != "STMT-camt.053.001.08-1" {
			t.Errorf("line %+v: want a debit on the operator's account", l)
		}
	}
	r := reconcile(t, "operator", ins, lines)
	for _, o := range r.Outcomes {
		if o.Status != payments.StatusPaid || o.Paid != o.Instruction.Amount || o.Outstanding.Minor != 0 || len(o.Lines) != 1 {
			t.Errorf("%s: %s, paid %v, outstanding %v; want paid exactly", o.Instruction.EndToEndID, o.Status, o.Paid, o.Outstanding)
		}
		if o.Expect != payments.Debit {
			t.Errorf("%s: expects %s on the operator's account, want a debit", o.Instruction.EndToEndID, o.Expect)
		}
	}
	if len(r.Unmatched) != 0 || len(r.Duplicates) != 0 {
		t.Errorf("unmatched %v, duplicates %v; want none", r.Unmatched, r.Duplicates)
	}
}

// receivables are what partners owe the operator, with a camt.054 of the
// credits that came in for them.
func receivables(t *testing.T) ([]payments.Instruction, []byte) {
	partly := pay("2026-11-29", "2026-11-29", cafe, operator, 10000, "2026-12-01")
	exact := pay("2026-11-29", "2026-11-29", books, operator, 5000, "2026-12-01")
	over := pay("2026-11-29", "2026-11-29", fuel, operator, 2000, "2026-12-01")
	open := pay("2026-11-01", "2026-11-28", cafe, operator, 7000, "2026-12-01")
	byText := pay("2026-11-27", "2026-11-27", books, operator, 800, "2026-12-01")
	ins := []payments.Instruction{partly, exact, over, open, byText}
	credit := func(ref, e2e, amount, ccy, text string) booking {
		return booking{ref: ref, e2e: e2e, amount: amount, ccy: ccy, dir: payments.Credit, text: text, date: "2026-12-01"}
	}
	bookings := []booking{
		credit("R1", partly.EndToEndID, "30.00", "EUR", ""),
		credit("R2", partly.EndToEndID, "40.00", "EUR", ""),
		credit("R3", exact.EndToEndID, "50.00", "EUR", ""),
		credit("R4", over.EndToEndID, "25.00", "EUR", ""),
		credit("R5", "", "8.00", "EUR", "Settlement "+byText.EndToEndID+". Thanks"),
		credit("R6", "CO-20261129-NOBODY-OPERATOR", "1.00", "EUR", ""),
		credit("R7", exact.EndToEndID, "50.00", "USD", ""),
		credit("R8", "", "2.00", "EUR", "no reference at all"),
		{ref: "R9", e2e: partly.EndToEndID, amount: "10.00", ccy: "EUR", dir: payments.Debit, date: "2026-12-01"},
		{ref: "R10", e2e: open.EndToEndID, amount: "70.00", ccy: "EUR", dir: payments.Credit, date: "2026-12-01", pending: true},
	}
	return ins, camtXML(t, "camt.054.001.08", "DE89370400440532013000", bookings)
}

func TestPartnerPaymentsArePaidPartlyOverOrNotAtAll(t *testing.T) {
	ins, notification := receivables(t)
	validateXSD(t, "camt.054.001.08.xsd", notification)
	lines := readCamt(t, notification)
	if len(lines) != 9 {
		t.Fatalf("%d lines, want 9: the pending entry left out", len(lines))
	}
	r := reconcile(t, "operator", ins, lines)

	for i, want := range []struct {
		status                    payments.Status
		paid, outstanding, excess int64
		lines                     int
	}{
		{payments.StatusPartlyPaid, 7000, 3000, 0, 2},
		{payments.StatusPaid, 5000, 0, 0, 1},
		{payments.StatusOverpaid, 2500, 0, 500, 1},
		{payments.StatusOpen, 0, 7000, 0, 0},
		{payments.StatusPaid, 800, 0, 0, 1}, // by the id in its text
	} {
		o := r.Outcomes[i]
		if o.Expect != payments.Credit {
			t.Errorf("%s: expects %s, want a credit: the operator is paid", o.Instruction.EndToEndID, o.Expect)
		}
		if o.Status != want.status || o.Paid != eur(want.paid) || o.Outstanding != eur(want.outstanding) || o.Excess != eur(want.excess) || len(o.Lines) != want.lines {
			t.Errorf("%s: %s paid %d outstanding %d excess %d in %d lines; want %s %d %d %d in %d",
				o.Instruction.EndToEndID, o.Status, o.Paid.Minor, o.Outstanding.Minor, o.Excess.Minor, len(o.Lines),
				want.status, want.paid, want.outstanding, want.excess, want.lines)
		}
	}
	var got []string
	for _, u := range r.Unmatched {
		got = append(got, u.Line.BankRef+" "+string(u.Reason))
	}
	want := []string{
		"R6 " + string(payments.ReasonUnknownID),
		"R7 " + string(payments.ReasonCurrency),
		"R8 " + string(payments.ReasonNoID),
		"R9 " + string(payments.ReasonDirection),
	}
	if !slices.Equal(got, want) {
		t.Errorf("unmatched\n got %v\nwant %v", got, want)
	}
}

func TestAStatementImportedTwiceCountsOnce(t *testing.T) {
	ins, notification := receivables(t)
	once := readCamt(t, notification)
	twice := append(readCamt(t, notification), readCamt(t, notification)...)
	a, b := reconcile(t, "operator", ins, once), reconcile(t, "operator", ins, twice)
	for i := range a.Outcomes {
		if a.Outcomes[i].Status != b.Outcomes[i].Status || a.Outcomes[i].Paid != b.Outcomes[i].Paid {
			t.Errorf("%s: %s %v once, %s %v twice", a.Outcomes[i].Instruction.EndToEndID,
				a.Outcomes[i].Status, a.Outcomes[i].Paid, b.Outcomes[i].Status, b.Outcomes[i].Paid)
		}
	}
	if len(b.Unmatched) != len(a.Unmatched) || len(b.Duplicates) != len(once) {
		t.Errorf("twice: %d unmatched, %d duplicates; want %d and %d", len(b.Unmatched), len(b.Duplicates), len(a.Unmatched), len(once))
	}
	for _, d := range b.Duplicates {
		if !strings.HasPrefix(d.DedupKey(), "AcctSvcrRef:") {
			t.Errorf("%+v deduplicated by %s, want the bank's reference", d, d.DedupKey())
		}
	}
}

// The same payment in the day's notification and its statement, and two
// equal payments told apart by their entry references.
func TestTheSameBookingInANotificationAndAStatementCountsOnce(t *testing.T) {
	in := pay("2026-11-29", "2026-11-29", operator, cafe, 1000, "2026-12-01")
	b := booking{ref: "BANK-77", e2e: in.EndToEndID, amount: "10.00", ccy: "EUR", dir: payments.Debit, date: "2026-12-01"}
	lines := append(readCamt(t, camtXML(t, "camt.054.001.08", "DE89370400440532013000", []booking{b})),
		readCamt(t, camtXML(t, "camt.053.001.08", "DE89370400440532013000", []booking{b}))...)
	if r := reconcile(t, "operator", []payments.Instruction{in}, lines); r.Outcomes[0].Status != payments.StatusPaid || len(r.Duplicates) != 1 {
		t.Errorf("%s with %d duplicates; want paid once", r.Outcomes[0].Status, len(r.Duplicates))
	}

	half := booking{entryRef: "1", e2e: in.EndToEndID, amount: "5.00", ccy: "EUR", dir: payments.Debit, date: "2026-12-01"}
	other := half
	other.entryRef = "2"
	lines = readCamt(t, camtXML(t, "camt.053.001.08", "DE89370400440532013000", []booking{half, other}))
	lines = append(lines, lines...)
	r := reconcile(t, "operator", []payments.Instruction{in}, lines)
	if r.Outcomes[0].Status != payments.StatusPaid || len(r.Duplicates) != 2 {
		t.Errorf("%s with %d duplicates; want two halves paid, each once", r.Outcomes[0].Status, len(r.Duplicates))
	}
	if k := r.Duplicates[0].DedupKey(); !strings.HasPrefix(k, "NtryRef+content:") {
		t.Errorf("deduplicated by %s, want the entry reference with the content", k)
	}
}

func TestAReversedPaymentIsOpenAgain(t *testing.T) {
	in := pay("2026-11-29", "2026-11-29", operator, cafe, 1000, "2026-12-01")
	doc := camtXML(t, "camt.053.001.08", "DE89370400440532013000", []booking{
		{ref: "B1", e2e: in.EndToEndID, amount: "10.00", ccy: "EUR", dir: payments.Debit, date: "2026-12-01"},
		{ref: "B2", e2e: in.EndToEndID, amount: "10.00", ccy: "EUR", dir: payments.Credit, reversal: true, date: "2026-12-02"},
	})
	validateXSD(t, "camt.053.001.08.xsd", doc)
	o := reconcile(t, "operator", []payments.Instruction{in}, readCamt(t, doc)).Outcomes[0]
	if o.Status != payments.StatusOpen || o.Paid.Minor != 0 || o.Outstanding.Minor != 1000 || len(o.Lines) != 2 {
		t.Errorf("%s paid %d outstanding %d in %d lines; want open, 0, 1000, 2", o.Status, o.Paid.Minor, o.Outstanding.Minor, len(o.Lines))
	}
}

// Versions 02 to 10 share the entry's shape; 02 writes the status as a bare
// code and a transaction's amount among its amount details.
func TestCamtOfAnEarlierVersionIsRead(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>M</MsgId><CreDtTm>2026-12-01T18:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>S-02</Id>
   <Acct><Id><Othr><Id>12345678</Id></Othr></Id></Acct>
   <Ntry>
    <Amt Ccy="EUR">30.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><DtTm>2026-12-01T23:30:00+01:00</DtTm></BookgDt>
    <AcctSvcrRef>BATCH-1</AcctSvcrRef>
    <NtryDtls>
     <TxDtls><Refs><EndToEndId>E-1</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">10.00</Amt></TxAmt></AmtDtls>
      <RmtInf><Ustrd>first</Ustrd><Ustrd>half</Ustrd></RmtInf></TxDtls>
     <TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">20.00</Amt></TxAmt></AmtDtls></TxDtls>
    </NtryDtls>
   </Ntry>
   <Ntry><Amt Ccy="EUR">99.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>PDNG</Sts></Ntry>
  </Stmt>
 </BkToCstmrStmt>
</Document>`
	lines := readCamt(t, []byte(doc))
	want := []payments.StatementLine{
		{Account: "12345678", Statement: "S-02", BookingDate: day("2026-12-01"), Amount: eur(1000), Direction: payments.Credit, EndToEndID: "E-1", BankRef: "BATCH-1/1", Reference: "first half"},
		{Account: "12345678", Statement: "S-02", BookingDate: day("2026-12-01"), Amount: eur(2000), Direction: payments.Credit, BankRef: "BATCH-1/2"},
	}
	if !slices.Equal(lines, want) {
		t.Errorf("lines\n got %+v\nwant %+v", lines, want)
	}
}

func TestReadCamtRefusesOtherMessagesAndBadEntries(t *testing.T) {
	entry := `<Ntry><Amt Ccy="EUR">%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-12-01</Dt></BookgDt></Ntry>`
	doc := func(ns, body string) string {
		return `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:` + ns + `"><BkToCstmrStmt><Stmt><Id>S</Id>` + body + `</Stmt></BkToCstmrStmt></Document>`
	}
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"account report", doc("camt.052.001.08", ""), "Document"},
		{"version 11", doc("camt.053.001.11", ""), "Document"},
		{"no namespace", `<Document><BkToCstmrStmt/></Document>`, "Document"},
		{"a fraction of a cent", doc("camt.053.001.08", fmt.Sprintf(entry, "1.005", "CRDT")), "Stmt[0].Ntry[0].Amt"},
		{"no direction", doc("camt.053.001.08", fmt.Sprintf(entry, "1.00", "")), "Stmt[0].Ntry[0].CdtDbtInd"},
	} {
		_, err := payments.ReadCamt(strings.NewReader(tc.doc))
		if e, ok := coalition.AsError(err); !ok || e.Field != tc.field {
			t.Errorf("%s: error %v, want one on %s", tc.name, err, tc.field)
		}
	}
	if _, err := payments.ReadCamt(strings.NewReader("<Document")); err == nil {
		t.Error("broken XML read without error")
	}
}

func TestCSVStatementIsReadAndReconciled(t *testing.T) {
	ins, _ := receivables(t)
	csv := "\ufeffbooking_date,amount,currency,direction,end_to_end_id,reference\n" +
		"2026-12-01,70.00,EUR,C," + ins[0].EndToEndID + ",\n" +
		"2026-12-02,30,EUR,C,,\"Settlement, " + ins[0].EndToEndID + "\"\n" +
		"2026-12-02,50.00,EUR,D," + ins[1].EndToEndID + ",wrong way\n"
	lines, err := payments.ReadStatementCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	want := payments.StatementLine{BookingDate: day("2026-12-02"), Amount: eur(3000), Direction: payments.Credit, Reference: "Settlement, " + ins[0].EndToEndID}
	if len(lines) != 3 || lines[1] != want {
		t.Fatalf("lines %+v, want 3 with the second %+v", lines, want)
	}
	// Imported twice: CSV lines have no bank reference, so their content
	// tells them apart.
	r := reconcile(t, "operator", ins, append(lines, lines...))
	if o := r.Outcomes[0]; o.Status != payments.StatusPaid || o.Paid != eur(10000) {
		t.Errorf("%s: %s paid %v, want paid 10000", o.Instruction.EndToEndID, o.Status, o.Paid)
	}
	if len(r.Unmatched) != 1 || r.Unmatched[0].Reason != payments.ReasonDirection || len(r.Duplicates) != 3 {
		t.Errorf("unmatched %v, %d duplicates; want the debit unmatched and 3 duplicates", r.Unmatched, len(r.Duplicates))
	}
	for _, d := range r.Duplicates {
		if !strings.HasPrefix(d.DedupKey(), "content:") {
			t.Errorf("deduplicated by %s, want the content", d.DedupKey())
		}
	}
}

func TestCSVStatementErrorsNameRowAndColumn(t *testing.T) {
	const header = "booking_date,amount,currency,direction,end_to_end_id,reference\n"
	for _, tc := range []struct {
		csv, field string
	}{
		{"", "row 1"},
		{"date,amount,currency,direction,end_to_end_id,reference\n", "row 1"},
		{header + "2026-12-01,1.00,EUR,X,,\n", "row 2.direction"},
		{header + "2026-12-01,1.00,EUR,C,,\n2026-12-01,-1.00,EUR,C,,\n", "row 3.amount"},
		{header + "01.12.2026,1.00,EUR,C,,\n", "row 2.booking_date"},
		{header + "2026-12-01,1.00,EUR,C\n", "row 2"},
	} {
		_, err := payments.ReadStatementCSV(strings.NewReader(tc.csv))
		if e, ok := coalition.AsError(err); !ok || e.Field != tc.field {
			t.Errorf("%q: error %v, want one on %s", tc.csv, err, tc.field)
		}
	}
}

func TestReconcileRefusesInstructionsItCannotSee(t *testing.T) {
	direct := pay("2026-11-29", "2026-11-29", cafe, books, 100, "2026-12-01")
	if _, err := payments.Reconcile("operator", []payments.Instruction{direct}, nil); err == nil {
		t.Error("reconciled a payment between two partners on the operator's account")
	}
	in := pay("2026-11-29", "2026-11-29", cafe, operator, 100, "2026-12-01")
	if _, err := payments.Reconcile("operator", []payments.Instruction{in, in}, nil); err == nil {
		t.Error("reconciled two instructions with one end-to-end id")
	}
}

func TestAgeingBucketsWhatIsOutstandingByDaysPastDue(t *testing.T) {
	asOf := day("2026-12-31")
	owes := func(debtor, creditor payments.Party, minor int64, daysLate int) payments.Instruction {
		due := asOf.AddDays(-daysLate)
		in := pay(due.String(), due.String(), debtor, creditor, minor, due.AddDays(-5).String())
		in.DueDate = due
		return in
	}
	ins := []payments.Instruction{
		owes(cafe, operator, 1, -3), // due in 3 days
		owes(cafe, operator, 2, 0),  // due today: not yet late
		owes(cafe, operator, 4, 1),
		owes(cafe, operator, 8, 30),
		owes(cafe, operator, 16, 31),
		owes(cafe, operator, 32, 60),
		owes(cafe, operator, 64, 61),
		owes(cafe, operator, 128, 90),
		owes(cafe, operator, 256, 91),
		owes(cafe, operator, 512, 400),
		owes(books, operator, 1000, 10), // partly paid below: 600 outstanding
		owes(books, operator, 5000, 45), // paid below: not aged
		owes(operator, books, 700, 5),   // the operator owes books
	}
	// A due date left zero is the execution date.
	noDue := pay("2026-12-20", "2026-12-20", operator, fuel, 900, "2026-12-20")
	ins = append(ins, noDue)
	lines := []payments.StatementLine{
		{BookingDate: asOf, Amount: eur(400), Direction: payments.Credit, EndToEndID: ins[10].EndToEndID},
		{BookingDate: asOf, Amount: eur(5000), Direction: payments.Credit, EndToEndID: ins[11].EndToEndID},
	}
	got := reconcile(t, "operator", ins, lines).Ageing(asOf)
	want := []payments.AgeingRow{
		{Counterparty: "books", Direction: payments.Credit, Currency: "EUR", Days1To30: 600},
		{Counterparty: "books", Direction: payments.Debit, Currency: "EUR", Days1To30: 700},
		{Counterparty: "cafe", Direction: payments.Credit, Currency: "EUR", NotDue: 1 + 2, Days1To30: 4 + 8, Days31To60: 16 + 32, Days61To90: 64 + 128, Over90: 256 + 512},
		{Counterparty: "fuel", Direction: payments.Debit, Currency: "EUR", Days1To30: 900},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ageing on %s\n got %+v\nwant %+v", asOf, got, want)
	}
	if got[2].Total() != 1023 {
		t.Errorf("cafe's total %d, want 1023", got[2].Total())
	}
}
