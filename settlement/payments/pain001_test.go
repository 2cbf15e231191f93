package payments_test

import (
	"bytes"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// hubPayments are the operator's payments for a window and a netted range,
// on two execution dates, to creditors reached by IBAN with and without a
// BIC and by account number and bank id, plus one from a yen account.
func hubPayments() []payments.Instruction {
	yenOperator := operator
	yenOperator.IBAN, yenOperator.Currency = "GB82WEST12345698765432", "JPY"
	yenCafe := cafe
	yenCafe.IBAN, yenCafe.Currency = "BE68539007547034", "JPY"
	yen := pay("2026-11-27", "2026-11-27", yenOperator, yenCafe, 98765, "2026-12-01")
	yen.Amount = coalition.Money{Minor: 98765, Currency: "JPY"}
	return []payments.Instruction{
		pay("2026-11-29", "2026-11-29", operator, cafe, 1234567, "2026-12-01"),
		pay("2026-11-29", "2026-11-29", operator, books, 5, "2026-12-01"),
		pay("2026-11-29", "2026-11-29", operator, fuel, 100000, "2026-12-02"),
		pay("2026-11-01", "2026-11-28", operator, books, 250050, "2026-12-02"),
		yen,
	}
}

func TestPain001IsValidAgainstTheISOSchema(t *testing.T) {
	ins := hubPayments()
	raw, doc := writePain(t, "CO-PAY-20261130-1", ins)
	validateXSD(t, "pain.001.001.09.xsd", raw)

	if doc.XMLName.Space != payments.Pain001Namespace {
		t.Errorf("namespace %q, want %q", doc.XMLName.Space, payments.Pain001Namespace)
	}
	if got, want := doc.GrpHdr.CreDtTm, created.Format(time.RFC3339); got != want {
		t.Errorf("CreDtTm %s, want the injected clock's %s", got, want)
	}
	// Blocks: per debtor account, execution date and currency.
	var blocks []string
	for _, p := range doc.PmtInf {
		blocks = append(blocks, p.IBAN+" "+p.Date+" "+strconv.Itoa(len(p.Tx)))
	}
	want := []string{
		"DE89370400440532013000 2026-12-01 2",
		"DE89370400440532013000 2026-12-02 2",
		"GB82WEST12345698765432 2026-12-01 1",
	}
	if strings.Join(blocks, "; ") != strings.Join(want, "; ") {
		t.Errorf("payment blocks\n got %v\nwant %v", blocks, want)
	}
}

// The control sums are checked by reading the amounts back as exact
// rationals: the header's sums every currency as plain decimals, each
// block's its own.
func TestPain001ControlSumsAndCountsMatchTheInstructions(t *testing.T) {
	ins := hubPayments()
	_, doc := writePain(t, "CO-PAY-20261130-1", ins)

	rat := func(s string) *big.Rat {
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("%q is not a decimal", s)
		}
		return r
	}
	wantSum := new(big.Rat)
	for _, in := range ins {
		exp, _ := payments.Exponent(in.Amount.Currency)
		wantSum.Add(wantSum, new(big.Rat).SetFrac(big.NewInt(in.Amount.Minor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	}
	if n, _ := strconv.Atoi(doc.GrpHdr.NbOfTxs); n != len(ins) {
		t.Errorf("GrpHdr/NbOfTxs %s, want %d", doc.GrpHdr.NbOfTxs, len(ins))
	}
	if got := rat(doc.GrpHdr.CtrlSum); got.Cmp(wantSum) != 0 {
		t.Errorf("GrpHdr/CtrlSum %s, want %s", doc.GrpHdr.CtrlSum, wantSum.FloatString(3))
	}
	byID := map[string]payments.Instruction{}
	for _, in := range ins {
		byID[in.EndToEndID] = in
	}
	count := 0
	for _, p := range doc.PmtInf {
		blockSum := new(big.Rat)
		for _, tx := range p.Tx {
			count++
			in, ok := byID[tx.EndToEndID]
			if !ok {
				t.Fatalf("transaction %q is no instruction's", tx.EndToEndID)
			}
			delete(byID, tx.EndToEndID)
			minor, err := payments.ParseAmount(tx.Amount.Value, tx.Amount.Ccy)
			if err != nil || minor != in.Amount.Minor || tx.Amount.Ccy != in.Amount.Currency {
				t.Errorf("%s: amount %s %s (%d, %v), want %d %s", tx.EndToEndID, tx.Amount.Value, tx.Amount.Ccy, minor, err, in.Amount.Minor, in.Amount.Currency)
			}
			blockSum.Add(blockSum, rat(tx.Amount.Value))
		}
		if n, _ := strconv.Atoi(p.NbOfTxs); n != len(p.Tx) {
			t.Errorf("block %s: NbOfTxs %s, has %d", p.ID, p.NbOfTxs, len(p.Tx))
		}
		if rat(p.CtrlSum).Cmp(blockSum) != 0 {
			t.Errorf("block %s: CtrlSum %s, amounts sum to %s", p.ID, p.CtrlSum, blockSum.FloatString(3))
		}
	}
	if count != len(ins) || len(byID) != 0 {
		t.Errorf("%d transactions for %d instructions; missing %v", count, len(ins), byID)
	}
}

func TestPain001WritesPartiesAsBanksReadThem(t *testing.T) {
	long := cafe
	long.Name = strings.Repeat("Élan", 50)
	ins := []payments.Instruction{
		pay("2026-11-29", "2026-11-29", operator, cafe, 100, "2026-12-01"),
		pay("2026-11-29", "2026-11-29", operator, fuel, 100, "2026-12-01"),
		pay("2026-11-28", "2026-11-28", operator, long, 100, "2026-12-01"),
	}
	raw, doc := writePain(t, "CO-PAY-20261130-2", ins)
	validateXSD(t, "pain.001.001.09.xsd", raw)
	p := doc.PmtInf[0]
	if p.IBAN != "DE89370400440532013000" || p.AgentBIC != "COBADEFFXXX" {
		t.Errorf("debtor account %s at %s, want the IBAN without spaces at COBADEFFXXX", p.IBAN, p.AgentBIC)
	}
	c, f, l := p.Tx[0], p.Tx[1], p.Tx[2]
	if c.Creditor != "Cafe + Sohne GmbH" {
		t.Errorf("creditor name %q, want accents dropped and & as +", c.Creditor)
	}
	if c.IBAN != "FR1420041010050500013M02606" || c.AgentBIC != "PSSTFRPPXXX" {
		t.Errorf("creditor account %s at %s", c.IBAN, c.AgentBIC)
	}
	if f.IBAN != "" || f.Other != "12345678" || f.AgentMember != "026009593" || f.AgentBIC != "" {
		t.Errorf("non-IBAN creditor: IBAN %q Othr %q ClrSysMmbId %q BIC %q", f.IBAN, f.Other, f.AgentMember, f.AgentBIC)
	}
	if l.Creditor != strings.Repeat("Elan", 35) {
		t.Errorf("long name written as %q (%d characters), want it cut to 140", l.Creditor, len(l.Creditor))
	}
	if want := "Coalition settlement window 2026-11-29 " + ins[0].EndToEndID; c.Ustrd != want {
		t.Errorf("remittance %q, want %q", c.Ustrd, want)
	}
}

// A debtor reached by IBAN alone still names its bank, as the schema
// requires: NOTPROVIDED, as EPC's guidelines say.
func TestPain001DebtorWithoutBICHasAnAgentNotProvided(t *testing.T) {
	raw, doc := writePain(t, "CO-PAY-BOOKS-1", []payments.Instruction{pay("2026-11-29", "2026-11-29", books, operator, 100, "2026-12-01")})
	validateXSD(t, "pain.001.001.09.xsd", raw)
	if p := doc.PmtInf[0]; p.AgentBIC != "" || p.AgentID != "NOTPROVIDED" {
		t.Errorf("debtor agent BIC %q Othr/Id %q, want NOTPROVIDED", p.AgentBIC, p.AgentID)
	}
}

func TestPain001IsTheSameBytesEveryTime(t *testing.T) {
	a, _ := writePain(t, "CO-PAY-20261130-1", hubPayments())
	b, _ := writePain(t, "CO-PAY-20261130-1", hubPayments())
	if !bytes.Equal(a, b) {
		t.Error("the same instructions gave different files")
	}
}

func TestPain001RefusesBadInstructionsNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*payments.Instruction)
		field  string
	}{
		{"IBAN checksum", func(in *payments.Instruction) { in.Creditor.IBAN = "FR1420041010050500013M02607" }, "instructions[1].creditor.iban"},
		{"BIC shape", func(in *payments.Instruction) { in.Creditor.BIC = "PSST-FRPP" }, "instructions[1].creditor.bic"},
		{"zero amount", func(in *payments.Instruction) { in.Amount.Minor = 0 }, "instructions[1].amount.minor"},
		{"negative amount", func(in *payments.Instruction) { in.Amount.Minor = -100 }, "instructions[1].amount.minor"},
		{"amount above the maximum", func(in *payments.Instruction) { in.Amount.Minor = coalition.MaxAmount + 1 }, "instructions[1].amount.minor"},
		{"unknown currency", func(in *payments.Instruction) { in.Amount.Currency = "XYZ" }, "instructions[1].amount.currency"},
		{"account in another currency", func(in *payments.Instruction) { in.Creditor.Currency = "USD" }, "instructions[1].creditor.currency"},
		{"no account", func(in *payments.Instruction) { in.Creditor.IBAN = "" }, "instructions[1].creditor.iban"},
		{"IBAN and account number", func(in *payments.Instruction) { in.Creditor.Account = "123" }, "instructions[1].creditor.account"},
		{"account number without its bank", func(in *payments.Instruction) { in.Creditor = fuel; in.Creditor.BankID = "" }, "instructions[1].creditor.bank_id"},
		{"name with nothing a bank reads", func(in *payments.Instruction) { in.Debtor.Name = "東京" }, "instructions[1].debtor.name"},
		{"paying oneself", func(in *payments.Instruction) { in.Creditor = in.Debtor }, "instructions[1].creditor.code"},
		{"end-to-end id too long", func(in *payments.Instruction) { in.EndToEndID = strings.Repeat("A", 36) }, "instructions[1].end_to_end_id"},
		{"end-to-end id with a space", func(in *payments.Instruction) { in.EndToEndID = "CO 1" }, "instructions[1].end_to_end_id"},
		{"end-to-end id repeated", func(in *payments.Instruction) {
			in.EndToEndID = payments.EndToEndID(day("2026-11-29"), day("2026-11-29"), "operator", "cafe")
		}, "instructions[1].end_to_end_id"},
		{"window backwards", func(in *payments.Instruction) { in.WindowTo = day("2026-10-01") }, "instructions[1].window_to"},
		{"no execution date", func(in *payments.Instruction) { in.ExecutionDate = payments.Date{} }, "instructions[1].execution_date"},
		{"30 February", func(in *payments.Instruction) { in.ExecutionDate = payments.Date{Year: 2027, Month: 2, Day: 30} }, "instructions[1].execution_date"},
		{"same debtor account, another name", func(in *payments.Instruction) { in.Debtor.Name = "Someone Else" }, "instructions[1].debtor.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins := []payments.Instruction{
				pay("2026-11-29", "2026-11-29", operator, cafe, 100, "2026-12-01"),
				pay("2026-11-29", "2026-11-29", operator, books, 100, "2026-12-01"),
			}
			tc.change(&ins[1])
			var buf bytes.Buffer
			err := payments.WritePain001(&buf, payments.Header{MessageID: "M1", Created: created, Initiator: "Operator"}, ins)
			e, ok := coalition.AsError(err)
			if !ok || e.Code != coalition.Invalid || e.Field != tc.field {
				t.Fatalf("error %v, want an invalid %s", err, tc.field)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}

func TestPain001RefusesABadHeader(t *testing.T) {
	ins := []payments.Instruction{pay("2026-11-29", "2026-11-29", operator, cafe, 100, "2026-12-01")}
	for _, tc := range []struct {
		h     payments.Header
		ins   []payments.Instruction
		field string
	}{
		{payments.Header{Created: created, Initiator: "Operator"}, ins, "message_id"},
		{payments.Header{MessageID: strings.Repeat("M", 36), Created: created, Initiator: "Operator"}, ins, "message_id"},
		{payments.Header{MessageID: "M1", Initiator: "Operator"}, ins, "created"},
		{payments.Header{MessageID: "M1", Created: created}, ins, "initiator"},
		{payments.Header{MessageID: "M1", Created: created, Initiator: "Operator"}, nil, "instructions"},
	} {
		err := payments.WritePain001(&bytes.Buffer{}, tc.h, tc.ins)
		if e, ok := coalition.AsError(err); !ok || e.Field != tc.field {
			t.Errorf("%+v: error %v, want one on %s", tc.h, err, tc.field)
		}
	}
}

// A long message id still gives block ids that fit and differ.
func TestPain001BlockIDsFitWithALongMessageID(t *testing.T) {
	msgID := strings.Repeat("M", 35)
	raw, doc := writePain(t, msgID, hubPayments())
	validateXSD(t, "pain.001.001.09.xsd", raw)
	seen := map[string]bool{}
	for _, p := range doc.PmtInf {
		if len(p.ID) > 35 || seen[p.ID] {
			t.Errorf("block id %q: too long or repeated", p.ID)
		}
		seen[p.ID] = true
	}
}
