package finance_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/finance"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// validate checks doc against an ISO 20022 schema of the payments
// package's testdata with xmllint (libxml2-utils, which scripts/setup.sh
// installs); without xmllint the test fails rather than passing unchecked.
func validate(t *testing.T, schema string, doc []byte) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint is not installed, so %s cannot be checked: run scripts/setup.sh (apt-get install libxml2-utils)", schema)
	}
	file := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--noout", "--schema", filepath.Join("..", "payments", "testdata", schema), file).CombinedOutput(); err != nil {
		t.Fatalf("not valid against %s: %v\n%s\n%s", schema, err, out, doc)
	}
}

// transfer is a credit transfer of a pain.001, as the bank reads it.
type transfer struct {
	EndToEndID string `xml:"PmtId>EndToEndId"`
	Amount     struct {
		Ccy   string `xml:"Ccy,attr"`
		Value string `xml:",chardata"`
	} `xml:"Amt>InstdAmt"`
	Creditor string `xml:"Cdtr>Nm"`
	IBAN     string `xml:"CdtrAcct>Id>IBAN"`
}

type pain001 struct {
	MsgID   string     `xml:"CstmrCdtTrfInitn>GrpHdr>MsgId"`
	NbOfTxs int        `xml:"CstmrCdtTrfInitn>GrpHdr>NbOfTxs"`
	CtrlSum string     `xml:"CstmrCdtTrfInitn>GrpHdr>CtrlSum"`
	Debtor  string     `xml:"CstmrCdtTrfInitn>PmtInf>DbtrAcct>Id>IBAN"`
	Tx      []transfer `xml:"CstmrCdtTrfInitn>PmtInf>CdtTrfTxInf"`
}

// book is the operator's bank executing a payment file: each transfer is
// booked as a debit of the settlement account on day, in a camt.053.
func book(t *testing.T, file pain001, day string) []byte {
	t.Helper()
	var entries strings.Builder
	const opening = 1_000_000_00
	closing := int64(opening)
	for i, tx := range file.Tx {
		minor, err := payments.ParseAmount(tx.Amount.Value, tx.Amount.Ccy)
		if err != nil {
			t.Fatal(err)
		}
		closing -= minor
		amount, _ := payments.FormatAmount(coalition.Money{Minor: minor, Currency: tx.Amount.Ccy})
		fmt.Fprintf(&entries, `
      <Ntry>
        <Amt Ccy="%[2]s">%[3]s</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>%[4]s</Dt></BookgDt><ValDt><Dt>%[4]s</Dt></ValDt><AcctSvcrRef>BANK-%[1]d</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls><Refs><EndToEndId>%[5]s</EndToEndId></Refs><Amt Ccy="%[2]s">%[3]s</Amt><CdtDbtInd>DBIT</CdtDbtInd></TxDtls></NtryDtls>
      </Ntry>`, i+1, tx.Amount.Ccy, amount, day, tx.EndToEndID)
	}
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT-%[1]s</MsgId><CreDtTm>%[1]sT18:00:00+01:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>STMT-%[1]s-1</Id><CreDtTm>%[1]sT18:00:00+01:00</CreDtTm>
      <Acct><Id><IBAN>%[2]s</IBAN></Id></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">%[4]s</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>%[1]s</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">%[5]s</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>%[1]s</Dt></Dt></Bal>%[3]s
    </Stmt>
  </BkToCstmrStmt>
</Document>`, day, file.Debtor, entries.String(), eur(opening), eur(closing)))
}

func eur(minor int64) string {
	s, _ := payments.FormatAmount(coalition.Money{Minor: minor, Currency: "EUR"})
	return s
}

func (f *fixture) confirm(a finance.BankAccount) {
	f.t.Helper()
	p, err := f.f.ProposeAccount(f.ctx, clerk, a)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.f.DecideAccount(f.ctx, approver, p.ID, true); err != nil {
		f.t.Fatal(err)
	}
}

func TestAPaymentFileValidatesAndItsStatementPaysEveryInstruction(t *testing.T) {
	f := newFixture(t)
	f.confirm(finance.BankAccount{Party: "operator", LegalName: "Coalition Operator GmbH", IBAN: "DE89370400440532013000",
		BIC: "COBADEFFXXX", Currency: "EUR"})
	f.confirm(finance.BankAccount{Party: "cafe", LegalName: "Café & Söhne GmbH", IBAN: "FR1420041010050500013M02606",
		BIC: "PSSTFRPPXXX", Currency: "EUR"})
	nets := f.tradeTuesdayAndWednesday()
	if _, err := f.f.MakeInstructions(f.ctx); err != nil {
		t.Fatal(err)
	}
	all, err := f.f.Instructions(f.ctx, finance.InstructionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var owed, pays int64
	for _, in := range all {
		if in.Direction == finance.Pay {
			owed += in.Minor
			pays++
		}
	}
	// The fuel station is owed on both days, and has no confirmed details
	// yet: its payments are held, and no file can be made.
	if _, _, err := f.f.FilePayments(f.ctx, clerk, finance.InstructionFilter{}); code(err) != coalition.FailedPrecondition {
		t.Fatalf("a file without the payee's details: %v", err)
	}
	unfiled, err := f.f.Unfiled(f.ctx)
	if err != nil || int64(len(unfiled)) != pays {
		t.Fatalf("unfiled %+v, %v; want %d", unfiled, err, pays)
	}
	for _, h := range unfiled {
		if h.Instruction.Party != "fuel" || h.Reason != "no confirmed banking details for fuel" {
			t.Fatalf("held %+v", h)
		}
	}
	f.confirm(finance.BankAccount{Party: "fuel", LegalName: "Fuel Stations GmbH", IBAN: "NL91ABNA0417164300", Currency: "EUR"})
	file, held, err := f.f.FilePayments(f.ctx, clerk, finance.InstructionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	_, data, err := f.f.PaymentFileData(f.ctx, file.ID, finance.Pain001)
	if err != nil {
		t.Fatal(err)
	}
	validate(t, "pain.001.001.09.xsd", data)
	var doc pain001
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, in := range file.Included {
		sum += in.Minor
	}
	ctrl, _ := payments.ParseAmount(doc.CtrlSum, "EUR")
	if ctrl != sum || sum != file.TotalMinor || doc.MsgID != file.ID || doc.NbOfTxs != len(file.Included) ||
		sum != owed || int64(len(file.Included)) != pays || len(held) != 0 {
		t.Fatalf("file %s: %d transfers summing %s (%d); included %d, held %+v, owed %d", file.ID, doc.NbOfTxs, doc.CtrlSum, ctrl, sum, held, owed)
	}
	if want := nets["2026-03-10"]["fuel"] + nets["2026-03-11"]["fuel"]; sum != want || doc.Debtor != "DE89370400440532013000" {
		t.Fatalf("the file pays %d from %s; the fuel station's nets are %d", sum, doc.Debtor, want)
	}
	// Downloaded again, the file is the same bytes: a bank that took it
	// refuses it by its message id. Filing again finds nothing new.
	if _, again, _ := f.f.PaymentFileData(f.ctx, file.ID, finance.Pain001); !bytes.Equal(again, data) {
		t.Fatal("the file changed between two downloads")
	}
	if _, _, err := f.f.FilePayments(f.ctx, approver, finance.InstructionFilter{}); code(err) != coalition.FailedPrecondition {
		t.Fatalf("filing again: %v, want FailedPrecondition (nothing to file)", err)
	}
	_, csvData, err := f.f.PaymentFileData(f.ctx, file.ID, finance.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := payments.ReadInstructionsCSV(bytes.NewReader(csvData)); err != nil || len(rows) != len(file.Included) {
		t.Fatalf("CSV: %d rows, %v", len(rows), err)
	}
	if files, err := f.f.PaymentFiles(f.ctx, 10); err != nil || len(files) != 1 || files[0].CreatedBy != clerk {
		t.Fatalf("files: %+v, %v", files, err)
	}

	// The bank books the file; the statement is imported twice.
	statement := book(t, doc, "2026-03-13")
	validate(t, "camt.053.001.08.xsd", statement)
	for i, want := range []finance.ImportResult{{Lines: len(doc.Tx), Added: len(doc.Tx)}, {Lines: len(doc.Tx), Duplicates: len(doc.Tx)}} {
		got, err := f.f.ImportStatement(f.ctx, clerk, finance.Camt, statement)
		if err != nil || got != want {
			t.Fatalf("import %d: %+v, %v; want %+v", i+1, got, err, want)
		}
	}
	r, err := f.f.Reconcile(f.ctx, "", date("2026-03-20"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Outcomes {
		included := false
		for _, in := range file.Included {
			included = included || in.EndToEndID == o.EndToEndID
		}
		switch {
		case included && (o.Status != payments.StatusPaid || o.PaidMinor != o.Minor):
			t.Errorf("%s: %s, paid %d of %d", o.EndToEndID, o.Status, o.PaidMinor, o.Minor)
		case !included && o.Status != payments.StatusOpen:
			t.Errorf("%s was in no file but is %s", o.EndToEndID, o.Status)
		}
	}
	if len(r.Unmatched) != 0 {
		t.Fatalf("unmatched: %+v", r.Unmatched)
	}
}

func TestPartnersPaymentsArePaidPartlyPaidOrLeftForAPersonToResolve(t *testing.T) {
	f := newFixture(t)
	f.tradeTuesdayAndWednesday()
	if _, err := f.f.MakeInstructions(f.ctx); err != nil {
		t.Fatal(err)
	}
	cafe, err := f.f.Instructions(f.ctx, finance.InstructionFilter{Party: "cafe"})
	if err != nil || len(cafe) != 2 || cafe[0].Direction != finance.Collect || cafe[1].Direction != finance.Collect {
		t.Fatalf("café owes: %+v, %v", cafe, err)
	}
	tue, wed := cafe[0], cafe[1]
	statement := strings.Join([]string{
		strings.Join(payments.StatementCSVHeader, ","),
		// Tuesday's paid in full, Wednesday's in part by a transfer whose
		// id the café typed into the text.
		fmt.Sprintf("2026-03-13,%s,EUR,C,%s,settlement", eur(tue.Minor), tue.EndToEndID),
		fmt.Sprintf("2026-03-13,%s,EUR,C,,paying %s", eur(wed.Minor-1), wed.EndToEndID),
		// Money nobody can place.
		"2026-03-13,12.34,EUR,C,,refund of an overcharge",
	}, "\n")
	if _, err := f.f.ImportStatement(f.ctx, clerk, finance.StatementCSV, []byte(statement)); err != nil {
		t.Fatal(err)
	}
	r, err := f.f.Reconcile(f.ctx, "", date("2026-04-20"))
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]finance.Outcome{}
	for _, o := range r.Outcomes {
		status[o.EndToEndID] = o
	}
	if o := status[tue.EndToEndID]; o.Status != payments.StatusPaid {
		t.Errorf("Tuesday: %+v", o)
	}
	if o := status[wed.EndToEndID]; o.Status != payments.StatusPartlyPaid || o.OutstandingMinor != 1 {
		t.Errorf("Wednesday: %+v", o)
	}
	if len(r.Unmatched) != 1 || r.Unmatched[0].Minor != 1234 || r.Unmatched[0].Reason != string(payments.ReasonNoID) {
		t.Fatalf("unmatched: %+v", r.Unmatched)
	}
	// What the café still owes is overdue: due 2 days after Wednesday, 35
	// days late on 20 April.
	var cafeAge *payments.AgeingRow
	for i, a := range r.Ageing {
		if a.Counterparty == "cafe" {
			cafeAge = &r.Ageing[i]
		}
	}
	if cafeAge == nil || cafeAge.Direction != payments.Credit || cafeAge.Days31To60 != 1 || cafeAge.Total() != 1 {
		t.Fatalf("café ageing: %+v", r.Ageing)
	}

	// A person finds the 12.34 is the rest of Wednesday's and more.
	line := r.Unmatched[0].ID
	if _, err := f.f.ResolveLine(f.ctx, finance.Actor{}, line, wed.EndToEndID, ""); err == nil {
		t.Fatal("an anonymous resolution was taken")
	}
	if _, err := f.f.ResolveLine(f.ctx, approver, line, "CO-NOTHING", ""); err == nil {
		t.Fatal("a line was assigned to an unknown instruction")
	}
	if _, err := f.f.ResolveLine(f.ctx, approver, line, wed.EndToEndID, "rest of Wednesday, plus a tip"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.f.ResolveLine(f.ctx, approver, line, "", "twice"); err == nil {
		t.Fatal("a line was resolved twice")
	}
	r, _ = f.f.Reconcile(f.ctx, "", date("2026-04-20"))
	for _, o := range r.Outcomes {
		if o.EndToEndID == wed.EndToEndID && (o.Status != payments.StatusOverpaid || o.ExcessMinor != 1233) {
			t.Fatalf("Wednesday after the assignment: %+v", o)
		}
	}
	if len(r.Unmatched) != 0 {
		t.Fatalf("still unmatched: %+v", r.Unmatched)
	}
	// A partner's view has its own instructions, and no one's lines.
	mine, err := f.f.Reconcile(f.ctx, "fuel", date("2026-04-20"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range mine.Outcomes {
		if o.Party != "fuel" {
			t.Fatalf("the fuel station sees %+v", o)
		}
	}
	if len(mine.Unmatched)+len(mine.SetAside) != 0 {
		t.Fatal("a partner sees statement lines")
	}
}

func TestTwoPaymentsAlikeInOneStatementAreTwoAndAZeroLineIsRefused(t *testing.T) {
	f := newFixture(t)
	header := strings.Join(payments.StatementCSVHeader, ",")
	// Two hand payments of the same sum with the same text on one day:
	// the bank gives CSV lines no reference, and they are two payments.
	alike := header + "\n2026-03-13,100.00,EUR,C,,rent\n2026-03-13,100.00,EUR,C,,rent\n"
	for i, want := range []finance.ImportResult{{Lines: 2, Added: 2}, {Lines: 2, Duplicates: 2}} {
		got, err := f.f.ImportStatement(f.ctx, clerk, finance.StatementCSV, []byte(alike))
		if err != nil || got != want {
			t.Fatalf("import %d: %+v, %v; want %+v", i+1, got, err, want)
		}
	}
	if _, err := f.f.ImportStatement(f.ctx, clerk, finance.StatementCSV, []byte(header+"\n2026-03-13,0.00,EUR,C,,fee\n")); code(err) != coalition.Invalid {
		t.Fatalf("a line of no money: %v, want Invalid", err)
	}
}

func TestConcurrentPaymentFilesAreDisjointAndConcurrentConfirmationsTakeTurns(t *testing.T) {
	f := newFixture(t)
	for party, iban := range map[string]string{"operator": "DE89370400440532013000", "fuel": "NL91ABNA0417164300",
		"cafe": "FR1420041010050500013M02606", "cinema": "GB82WEST12345698765432"} {
		f.confirm(finance.BankAccount{Party: party, LegalName: party + " GmbH", IBAN: iban, Currency: "EUR"})
	}
	f.tradeTuesdayAndWednesday()
	if _, err := f.f.MakeInstructions(f.ctx); err != nil {
		t.Fatal(err)
	}
	pays, err := f.f.Instructions(f.ctx, finance.InstructionFilter{Unfiled: true})
	if err != nil || len(pays) == 0 {
		t.Fatalf("payments to file: %+v, %v", pays, err)
	}
	type result struct {
		file finance.PaymentFile
		err  error
	}
	results := make(chan result, 4)
	for i := range 4 {
		go func() {
			file, _, err := f.f.FilePayments(f.ctx, finance.Actor{ID: fmt.Sprintf("staff:p%d", i), Name: "p"}, finance.InstructionFilter{})
			results <- result{file, err}
		}()
	}
	filed := map[string]string{}
	for range 4 {
		r := <-results
		if r.err != nil {
			if code(r.err) != coalition.FailedPrecondition {
				t.Fatalf("a concurrent file: %v", r.err)
			}
			continue
		}
		for _, in := range r.file.Included {
			if other, ok := filed[in.EndToEndID]; ok {
				t.Fatalf("%s is in files %s and %s", in.EndToEndID, other, r.file.ID)
			}
			filed[in.EndToEndID] = r.file.ID
		}
	}
	if len(filed) != len(pays) {
		t.Fatalf("%d payments filed, want %d", len(filed), len(pays))
	}

	// Two people confirm two new versions of the café's details at once.
	var ids []finance.BankAccount
	for _, iban := range []string{"GB82WEST12345698765432", "NL91ABNA0417164300"} {
		p, err := f.f.ProposeAccount(f.ctx, clerk, finance.BankAccount{Party: "cafe", LegalName: "Cafe", IBAN: iban, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p)
	}
	errs := make(chan error, 2)
	for _, p := range ids {
		go func() { _, err := f.f.DecideAccount(f.ctx, approver, p.ID, true); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent confirmation: %v", err)
		}
	}
	versions, _ := f.f.Accounts(f.ctx, "cafe")
	confirmed := 0
	for _, v := range versions {
		if v.Status == "confirmed" {
			confirmed++
		}
	}
	if confirmed != 1 {
		t.Fatalf("%d confirmed versions of the café's details, want 1: %+v", confirmed, versions)
	}
}
