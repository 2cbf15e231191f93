package payments_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// created is the clock every test reads: output never depends on when the
// tests run.
var created = time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)

// validateXSD checks doc against one of the ISO 20022 schemas in testdata
// with xmllint. A missing xmllint fails the test rather than skipping it: a
// skipped schema check looks like a passed one.
func validateXSD(t *testing.T, schema string, doc []byte) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint is not installed, so %s cannot be checked: run `apt-get install libxml2-utils`", schema)
	}
	file := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--noout", "--schema", filepath.Join("testdata", schema), file).CombinedOutput()
	if err != nil {
		t.Fatalf("not valid against %s: %v\n%s\ndocument:\n%s", schema, err, out, doc)
	}
}

func day(s string) payments.Date {
	d, err := payments.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func eur(minor int64) coalition.Money { return coalition.Money{Minor: minor, Currency: "EUR"} }

// The parties: the operator's settlement account and three partners, one
// of them at a bank reached by account number and domestic bank id.
var (
	operator = payments.Party{Code: "operator", Name: "Coalition Operator GmbH", IBAN: "DE89 3704 0044 0532 0130 00", BIC: "COBADEFFXXX", Currency: "EUR"}
	cafe     = payments.Party{Code: "cafe", Name: "Café & Söhne GmbH", IBAN: "FR1420041010050500013M02606", BIC: "PSSTFRPPXXX", Currency: "EUR"}
	books    = payments.Party{Code: "books", Name: "Books Ltd", IBAN: "NL91ABNA0417164300", Currency: "EUR"}
	fuel     = payments.Party{Code: "fuel", Name: "Fuel Stations Inc", Account: "12345678", BankID: "026009593", Currency: "EUR"}
)

// pay is an instruction settling window from–to between two parties.
func pay(from, to string, debtor, creditor payments.Party, minor int64, execution string) payments.Instruction {
	return payments.Instruction{
		EndToEndID: payments.EndToEndID(day(from), day(to), debtor.Code, creditor.Code),
		WindowFrom: day(from), WindowTo: day(to),
		Debtor: debtor, Creditor: creditor,
		Amount:        eur(minor),
		ExecutionDate: day(execution),
	}
}

// The pain.001 elements the tests read back, by local name.
type (
	painDoc struct {
		XMLName xml.Name
		GrpHdr  struct {
			MsgID    string `xml:"MsgId"`
			CreDtTm  string `xml:"CreDtTm"`
			NbOfTxs  string `xml:"NbOfTxs"`
			CtrlSum  string `xml:"CtrlSum"`
			InitgPty string `xml:"InitgPty>Nm"`
		} `xml:"CstmrCdtTrfInitn>GrpHdr"`
		PmtInf []painPmtInf `xml:"CstmrCdtTrfInitn>PmtInf"`
	}
	painPmtInf struct {
		ID       string `xml:"PmtInfId"`
		NbOfTxs  string `xml:"NbOfTxs"`
		CtrlSum  string `xml:"CtrlSum"`
		Date     string `xml:"ReqdExctnDt>Dt"`
		Debtor   string `xml:"Dbtr>Nm"`
		IBAN     string `xml:"DbtrAcct>Id>IBAN"`
		AgentBIC string `xml:"DbtrAgt>FinInstnId>BICFI"`
		AgentID  string `xml:"DbtrAgt>FinInstnId>Othr>Id"`
		Tx       []struct {
			EndToEndID string `xml:"PmtId>EndToEndId"`
			Amount     struct {
				Ccy   string `xml:"Ccy,attr"`
				Value string `xml:",chardata"`
			} `xml:"Amt>InstdAmt"`
			AgentBIC    string `xml:"CdtrAgt>FinInstnId>BICFI"`
			AgentMember string `xml:"CdtrAgt>FinInstnId>ClrSysMmbId>MmbId"`
			Creditor    string `xml:"Cdtr>Nm"`
			IBAN        string `xml:"CdtrAcct>Id>IBAN"`
			Other       string `xml:"CdtrAcct>Id>Othr>Id"`
			Ustrd       string `xml:"RmtInf>Ustrd"`
		} `xml:"CdtTrfTxInf"`
	}
)

func writePain(t *testing.T, msgID string, ins []payments.Instruction) ([]byte, painDoc) {
	t.Helper()
	var buf bytes.Buffer
	if err := payments.WritePain001(&buf, payments.Header{MessageID: msgID, Created: created, Initiator: "Coalition Operator GmbH"}, ins); err != nil {
		t.Fatal(err)
	}
	var doc painDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("pain.001 does not parse back: %v", err)
	}
	return buf.Bytes(), doc
}

// booking is one entry as a bank books it, for camtXML.
type booking struct {
	ref, entryRef string // AcctSvcrRef, NtryRef
	e2e           string
	amount, ccy   string
	dir           payments.Direction
	reversal      bool
	text          string
	date          string
	pending       bool
}

// camtXML writes bookings on account iban as a camt.053.001.08 statement
// or camt.054.001.08 notification, as a bank would: one entry per
// booking, its transaction details carrying the end-to-end id.
func camtXML(t *testing.T, message, iban string, bookings []booking) []byte {
	t.Helper()
	type (
		amt struct {
			Ccy   string `xml:"Ccy,attr"`
			Value string `xml:",chardata"`
		}
		tx struct {
			Ref   string `xml:"Refs>AcctSvcrRef,omitempty"`
			E2E   string `xml:"Refs>EndToEndId,omitempty"`
			Amt   amt    `xml:"Amt"`
			Ind   string `xml:"CdtDbtInd"`
			Ustrd string `xml:"RmtInf>Ustrd,omitempty"`
		}
		entry struct {
			NtryRef     string `xml:"NtryRef,omitempty"`
			Amt         amt    `xml:"Amt"`
			Ind         string `xml:"CdtDbtInd"`
			Rvsl        string `xml:"RvslInd,omitempty"`
			Sts         string `xml:"Sts>Cd"`
			BookgDt     string `xml:"BookgDt>Dt"`
			ValDt       string `xml:"ValDt>Dt"`
			AcctSvcrRef string `xml:"AcctSvcrRef,omitempty"`
			Domain      string `xml:"BkTxCd>Domn>Cd"`
			Family      string `xml:"BkTxCd>Domn>Fmly>Cd"`
			SubFamily   string `xml:"BkTxCd>Domn>Fmly>SubFmlyCd"`
			Tx          []tx   `xml:"NtryDtls>TxDtls"`
		}
		bal struct {
			Code string `xml:"Tp>CdOrPrtry>Cd"`
			Amt  amt    `xml:"Amt"`
			Ind  string `xml:"CdtDbtInd"`
			Date string `xml:"Dt>Dt"`
		}
		report struct {
			ID      string  `xml:"Id"`
			CreDtTm string  `xml:"CreDtTm"`
			IBAN    string  `xml:"Acct>Id>IBAN"`
			Bal     []bal   `xml:"Bal,omitempty"`
			Ntry    []entry `xml:"Ntry"`
		}
		body struct {
			MsgID   string   `xml:"GrpHdr>MsgId"`
			CreDtTm string   `xml:"GrpHdr>CreDtTm"`
			Stmt    []report `xml:"Stmt,omitempty"`
			Ntfctn  []report `xml:"Ntfctn,omitempty"`
		}
		doc struct {
			XMLName xml.Name
			Stmt    *body `xml:"BkToCstmrStmt,omitempty"`
			Ntfctn  *body `xml:"BkToCstmrDbtCdtNtfctn,omitempty"`
		}
	)
	stamp := created.Format(time.RFC3339)
	rep := report{ID: "STMT-" + message + "-1", CreDtTm: stamp, IBAN: iban}
	for _, b := range bookings {
		e := entry{
			NtryRef: b.entryRef, Amt: amt{b.ccy, b.amount}, Ind: string(b.dir), Sts: "BOOK",
			BookgDt: b.date, ValDt: b.date, AcctSvcrRef: b.ref,
			Domain: "PMNT", Family: "ICDT", SubFamily: "ESCT",
			Tx: []tx{{E2E: b.e2e, Amt: amt{b.ccy, b.amount}, Ind: string(b.dir), Ustrd: b.text}},
		}
		if b.dir == payments.Credit {
			e.Family = "RCDT"
		}
		if b.reversal {
			e.Rvsl = "true"
		}
		if b.pending {
			e.Sts = "PDNG"
		}
		rep.Ntry = append(rep.Ntry, e)
	}
	d := doc{XMLName: xml.Name{Space: "urn:iso:std:iso:20022:tech:xsd:" + message, Local: "Document"}}
	b := &body{MsgID: "BANK-" + message, CreDtTm: stamp}
	switch message {
	case "camt.053.001.08":
		rep.Bal = []bal{{Code: "OPBD", Amt: amt{"EUR", "0.00"}, Ind: "CRDT", Date: created.Format(time.DateOnly)}}
		b.Stmt = []report{rep}
		d.Stmt = b
	case "camt.054.001.08":
		b.Ntfctn = []report{rep}
		d.Ntfctn = b
	default:
		t.Fatalf("camtXML writes no %s", message)
	}
	out, err := xml.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(xml.Header), out...)
}
