package payments

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"strconv"
	"time"
)

// Pain001Namespace is the namespace of the credit transfer initiation
// WritePain001 writes (version 09).
const Pain001Namespace = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"

// Header is what a pain.001 message says of itself.
type Header struct {
	// MessageID must be unique among the initiator's messages: banks
	// refuse a repeated one as a duplicate file, which is what protects
	// against paying twice.
	MessageID string
	// Created is when the message was made, from the caller's clock.
	Created time.Time
	// Initiator is the name of the party sending the file (InitgPty/Nm).
	Initiator string
}

// WritePain001 writes the instructions as one pain.001.001.09 customer
// credit transfer initiation: one payment information block per debtor
// account, execution date and currency, in order of first appearance,
// and the instructions in their order within it. The control sums are
// the exact decimal sums of the amounts.
//
// Every instruction is validated first, and nothing is written unless all
// are good: the error is a coalition.Error naming the field, as
// instructions[2].creditor.iban. Names are written in the Latin set every
// bank accepts, cut to 140 characters.
func WritePain001(w io.Writer, h Header, instructions []Instruction) error {
	doc, err := pain001(h, instructions)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

func pain001(h Header, instructions []Instruction) (painDocument, error) {
	if err := checkID(h.MessageID); err != nil {
		return painDocument{}, invalid("message_id", "%v", err)
	}
	if h.Created.IsZero() {
		return painDocument{}, invalid("created", "is required")
	}
	initiator := sanitize(h.Initiator, maxName)
	if initiator == "" {
		return painDocument{}, invalid("initiator", "%q has no letters or digits a bank accepts", h.Initiator)
	}
	if len(instructions) == 0 {
		return painDocument{}, invalid("instructions", "none to pay")
	}
	type group struct {
		account  string
		date     Date
		currency string
	}
	var (
		order   []group
		groups  = map[group][]Instruction{}
		debtors = map[string]int{} // account → first instruction, for a name that differs
		seen    = map[string]int{} // end-to-end id → instruction
		total   decimalSum
		exp     int
	)
	for i, in := range instructions {
		field := "instructions[" + strconv.Itoa(i) + "]"
		n, err := in.normalized()
		if err != nil {
			return painDocument{}, within(field, err)
		}
		if j, ok := seen[n.EndToEndID]; ok {
			return painDocument{}, invalid(field+".end_to_end_id", "%q repeats instructions[%d]'s", n.EndToEndID, j)
		}
		seen[n.EndToEndID] = i
		// One account, one holder: a different name on it is a mistake in
		// the data, which the bank would catch later and less clearly.
		if j, ok := debtors[n.Debtor.accountKey()]; ok && instructions[j].Debtor.Name != n.Debtor.Name {
			return painDocument{}, invalid(field+".debtor.name", "%q differs from instructions[%d]'s %q on the same account", n.Debtor.Name, j, instructions[j].Debtor.Name)
		} else if !ok {
			debtors[n.Debtor.accountKey()] = i
		}
		g := group{n.Debtor.accountKey(), n.ExecutionDate, n.Amount.Currency}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], n)
		e, _ := Exponent(n.Amount.Currency)
		total.add(n.Amount.Minor, e)
		exp = max(exp, e)
	}
	doc := painDocument{Initiation: painInitiation{GroupHeader: painGroupHeader{
		MessageID: h.MessageID,
		Created:   h.Created.Truncate(time.Second).Format(time.RFC3339),
		NbOfTxs:   strconv.Itoa(len(instructions)),
		CtrlSum:   total.String(exp),
		Initiator: painParty{Name: initiator},
	}}}
	for k, g := range order {
		ins := groups[g]
		debtor := ins[0].Debtor
		e, _ := Exponent(g.currency)
		var sum int64 // at most len × MaxAmount: far inside int64
		p := painPayment{
			ID:            paymentInfoID(h.MessageID, k+1),
			Method:        "TRF",
			NbOfTxs:       strconv.Itoa(len(ins)),
			Execution:     painDate{Date: g.date.String()},
			Debtor:        painParty{Name: sanitize(debtor.Name, maxName)},
			DebtorAccount: account(debtor),
			DebtorAgent:   agent(debtor),
		}
		if p.DebtorAgent == nil {
			// The debtor agent is mandatory; EPC's guidelines say
			// NOTPROVIDED when the bank is known from the IBAN alone.
			p.DebtorAgent = &painAgent{Other: optional("NOTPROVIDED")}
		}
		for _, in := range ins {
			sum += in.Amount.Minor
			p.Transfers = append(p.Transfers, painTransfer{
				EndToEndID:      in.EndToEndID,
				Amount:          painAmount{Currency: g.currency, Value: formatMinor(in.Amount.Minor, e)},
				CreditorAgent:   agent(in.Creditor),
				Creditor:        painParty{Name: sanitize(in.Creditor.Name, maxName)},
				CreditorAccount: account(in.Creditor),
				Remittance:      sanitize(in.Remittance(), maxName),
			})
		}
		p.CtrlSum = formatMinor(sum, e)
		doc.Initiation.Payments = append(doc.Initiation.Payments, p)
	}
	return doc, nil
}

// paymentInfoID is the n-th block's id, the message's id and n; when that
// is too long, a hash of the message id stands in for its tail, so two
// long message ids with a common start still give different block ids.
func paymentInfoID(msgID string, n int) string {
	suffix := "-" + strconv.Itoa(n)
	if len(msgID)+len(suffix) <= maxID {
		return msgID + suffix
	}
	sum := sha256.Sum256([]byte(msgID))
	tail := "." + hex.EncodeToString(sum[:4]) + suffix
	return msgID[:maxID-len(tail)] + tail
}

func account(p Party) painAccount {
	return painAccount{IBAN: optional(p.IBAN), Other: optional(p.Account)}
}

func agent(p Party) *painAgent {
	if p.BIC == "" && p.BankID == "" {
		return nil
	}
	return &painAgent{BIC: optional(p.BIC), Member: optional(p.BankID)}
}

// optional is an element's content, or nil to leave the element out:
// encoding/xml writes the parents of an empty element marked omitempty,
// but not of a nil one.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// The pain.001.001.09 elements written, in the schema's order.
type (
	painDocument struct {
		XMLName    xml.Name       `xml:"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09 Document"`
		Initiation painInitiation `xml:"CstmrCdtTrfInitn"`
	}
	painInitiation struct {
		GroupHeader painGroupHeader `xml:"GrpHdr"`
		Payments    []painPayment   `xml:"PmtInf"`
	}
	painGroupHeader struct {
		MessageID string    `xml:"MsgId"`
		Created   string    `xml:"CreDtTm"`
		NbOfTxs   string    `xml:"NbOfTxs"`
		CtrlSum   string    `xml:"CtrlSum"`
		Initiator painParty `xml:"InitgPty"`
	}
	painParty struct {
		Name string `xml:"Nm"`
	}
	painPayment struct {
		ID            string         `xml:"PmtInfId"`
		Method        string         `xml:"PmtMtd"`
		NbOfTxs       string         `xml:"NbOfTxs"`
		CtrlSum       string         `xml:"CtrlSum"`
		Execution     painDate       `xml:"ReqdExctnDt"`
		Debtor        painParty      `xml:"Dbtr"`
		DebtorAccount painAccount    `xml:"DbtrAcct"`
		DebtorAgent   *painAgent     `xml:"DbtrAgt"`
		Transfers     []painTransfer `xml:"CdtTrfTxInf"`
	}
	painDate struct {
		Date string `xml:"Dt"`
	}
	painAccount struct {
		IBAN  *string `xml:"Id>IBAN"`
		Other *string `xml:"Id>Othr>Id"`
	}
	painAgent struct {
		BIC    *string `xml:"FinInstnId>BICFI"`
		Member *string `xml:"FinInstnId>ClrSysMmbId>MmbId"`
		Other  *string `xml:"FinInstnId>Othr>Id"`
	}
	painTransfer struct {
		EndToEndID      string      `xml:"PmtId>EndToEndId"`
		Amount          painAmount  `xml:"Amt>InstdAmt"`
		CreditorAgent   *painAgent  `xml:"CdtrAgt,omitempty"`
		Creditor        painParty   `xml:"Cdtr"`
		CreditorAccount painAccount `xml:"CdtrAcct"`
		Remittance      string      `xml:"RmtInf>Ustrd"`
	}
	painAmount struct {
		Currency string `xml:"Ccy,attr"`
		Value    string `xml:",chardata"`
	}
)
