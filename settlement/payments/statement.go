package payments

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/coalition-loyalty/coalition/coalition"
)

// StatementLine is one booked movement on a bank account, whichever format
// reported it.
type StatementLine struct {
	// Account is the IBAN or other id of the account the statement is
	// of; empty for CSV statements, which do not say.
	Account string
	// Statement is the id of the camt statement or notification.
	Statement   string
	BookingDate Date
	// Amount is never negative: Direction says which way it went.
	Amount    coalition.Money
	Direction Direction
	// Reversal marks the bank undoing an earlier entry: a credit that
	// reverses a debit, or a debit that reverses a credit.
	Reversal   bool
	EndToEndID string
	// BankRef is the account servicer's reference of the transaction
	// (AcctSvcrRef), which the bank keeps unique on the account; for a
	// batch entry that has one only for the whole entry, it is followed
	// by /n for the entry's n-th transaction.
	BankRef string
	// EntryRef is the entry's NtryRef, which many banks number afresh in
	// every statement.
	EntryRef string
	// Reference is the remittance text that came with the money.
	Reference string
}

// DedupKey identifies the movement, so that a statement imported twice, or
// an entry reported both by a camt.054 notification and the day's
// camt.053, counts once. It is the bank's reference (AcctSvcrRef) on the
// account when there is one. Otherwise it is a hash of the line's content
// (account, booking date, amount, direction, reversal, end-to-end id,
// text) and of its NtryRef if any, which is not trusted alone since it is
// often just the entry's number within its statement. Without either
// reference, two payments alike in every one of those fields on the same
// day count as one: the content is all there is to tell them apart.
func (l StatementLine) DedupKey() string {
	if l.BankRef != "" {
		return "AcctSvcrRef:" + l.Account + ":" + l.BankRef
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{
		l.Account, l.BookingDate.String(), strconv.FormatInt(l.Amount.Minor, 10), l.Amount.Currency,
		string(l.Direction), strconv.FormatBool(l.Reversal), l.EndToEndID, l.Reference, l.EntryRef,
	}, "\x00")))
	kind := "content:"
	if l.EntryRef != "" {
		kind = "NtryRef+content:"
	}
	return kind + hex.EncodeToString(sum[:16])
}

// ReadCamt reads the booked entries of a bank-to-customer statement
// (camt.053, BkToCstmrStmt) or debit/credit notification (camt.054,
// BkToCstmrDbtCdtNtfctn), of any version from 001.02 to 001.10: their
// entries have the same shape, and elements are matched by local name.
// An entry gives a line per transaction detail (a batch booking has
// several); entries not booked (pending, information) are left out, since
// no money has moved yet and they will be reported again once booked.
func ReadCamt(r io.Reader) ([]StatementLine, error) {
	var doc camtDocument
	if err := xml.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("camt: %w", err)
	}
	message, ok := camtMessage(doc.XMLName.Space)
	if !ok || doc.XMLName.Local != "Document" {
		return nil, invalid("Document", "namespace %q is not camt.053 or camt.054 of version 001.02 to 001.10", doc.XMLName.Space)
	}
	reports, path := doc.Statements, "Stmt"
	if message == "054" {
		reports, path = doc.Notifications, "Ntfctn"
	}
	if len(reports) == 0 {
		return nil, invalid(path, "camt.%s has no %s", message, path)
	}
	var out []StatementLine
	for i, rep := range reports {
		account := rep.IBAN
		if account == "" {
			account = rep.Other
		}
		for j, e := range rep.Entries {
			field := fmt.Sprintf("%s[%d].Ntry[%d]", path, i, j)
			lines, err := e.lines(account, rep.ID)
			if err != nil {
				return nil, within(field, err)
			}
			out = append(out, lines...)
		}
	}
	return out, nil
}

// camtMessage is "053" or "054" for the namespaces ReadCamt reads.
func camtMessage(ns string) (string, bool) {
	rest, ok := strings.CutPrefix(ns, "urn:iso:std:iso:20022:tech:xsd:camt.")
	if !ok {
		return "", false
	}
	message, version, ok := strings.Cut(rest, ".001.")
	v, err := strconv.Atoi(version)
	if !ok || err != nil || len(version) != 2 || v < 2 || v > 10 || (message != "053" && message != "054") {
		return "", false
	}
	return message, true
}

func (e camtEntry) lines(account, statement string) ([]StatementLine, error) {
	status := strings.TrimSpace(e.Status.Code)
	if status == "" {
		status = strings.TrimSpace(e.Status.Text) // before version 05, Sts was the code itself
	}
	// Sts is mandatory; an entry without it is taken for booked, as a
	// statement is a list of bookings.
	if status != "BOOK" && status != "" {
		return nil, nil
	}
	base := StatementLine{
		Account:   account,
		Statement: statement,
		EntryRef:  strings.TrimSpace(e.Ref),
		BankRef:   strings.TrimSpace(e.ServicerRef),
		Reference: strings.TrimSpace(e.Info),
	}
	var err error
	if base.BookingDate, err = e.Booked.date(); err != nil {
		return nil, within("BookgDt", err)
	}
	if base.BookingDate.IsZero() {
		if base.BookingDate, err = e.Value.date(); err != nil {
			return nil, within("ValDt", err)
		}
	}
	if base.Direction, err = direction(e.Indicator); err != nil {
		return nil, within("CdtDbtInd", err)
	}
	base.Reversal = strings.TrimSpace(e.Reversal) == "true" || strings.TrimSpace(e.Reversal) == "1"
	if base.Amount, err = e.Amount.money(); err != nil {
		return nil, within("Amt", err)
	}
	var txs []camtTx
	for _, d := range e.Details {
		txs = append(txs, d.Transactions...)
	}
	// Splitting a batch needs every transaction's amount; without them the
	// entry stays one line, matched by its text if at all.
	for _, tx := range txs {
		if tx.amount() == nil && len(txs) > 1 {
			txs = nil
			break
		}
	}
	if len(txs) == 0 {
		return []StatementLine{base}, nil
	}
	var out []StatementLine
	for k, tx := range txs {
		field := fmt.Sprintf("NtryDtls.TxDtls[%d]", k)
		l := base
		l.EndToEndID = strings.TrimSpace(tx.EndToEndID)
		if l.EndToEndID == "NOTPROVIDED" { // the placeholder of EPC's guidelines
			l.EndToEndID = ""
		}
		if ref := strings.TrimSpace(tx.ServicerRef); ref != "" {
			l.BankRef = ref
		} else if l.BankRef != "" && len(txs) > 1 {
			l.BankRef += "/" + strconv.Itoa(k+1)
		}
		if text := strings.TrimSpace(strings.Join(tx.Unstructured, " ")); text != "" {
			l.Reference = text
		} else if info := strings.TrimSpace(tx.Info); info != "" {
			l.Reference = info
		}
		if a := tx.amount(); a != nil {
			if l.Amount, err = a.money(); err != nil {
				return nil, within(field+".Amt", err)
			}
		}
		if tx.Indicator != "" {
			if l.Direction, err = direction(tx.Indicator); err != nil {
				return nil, within(field+".CdtDbtInd", err)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

func direction(s string) (Direction, error) {
	switch d := Direction(strings.TrimSpace(s)); d {
	case Credit, Debit:
		return d, nil
	}
	return "", invalid("", "%q is neither CRDT nor DBIT", s)
}

func (a camtAmount) money() (coalition.Money, error) {
	ccy := strings.TrimSpace(a.Currency)
	n, err := ParseAmount(a.Value, ccy)
	if err != nil {
		return coalition.Money{}, invalid("", "%v", err)
	}
	return coalition.Money{Minor: n, Currency: ccy}, nil
}

func (d camtDate) date() (Date, error) {
	s := strings.TrimSpace(d.Date)
	if s == "" {
		s = strings.TrimSpace(d.DateTime)
	}
	if s == "" {
		return Date{}, nil
	}
	// The day as the bank wrote it: a zone or a time after it does not
	// move the booking to another day.
	day, err := ParseDate(s[:min(len(s), 10)])
	if err != nil {
		return Date{}, invalid("", "%v", err)
	}
	return day, nil
}

// amount is the transaction's own amount: Amt from version 03 on, the
// transaction amount among the amount details before.
func (tx camtTx) amount() *camtAmount {
	if tx.Amount != nil {
		return tx.Amount
	}
	return tx.DetailAmount
}

// The camt elements read; the rest are skipped.
type (
	camtDocument struct {
		XMLName       xml.Name
		Statements    []camtReport `xml:"BkToCstmrStmt>Stmt"`
		Notifications []camtReport `xml:"BkToCstmrDbtCdtNtfctn>Ntfctn"`
	}
	camtReport struct {
		ID      string      `xml:"Id"`
		IBAN    string      `xml:"Acct>Id>IBAN"`
		Other   string      `xml:"Acct>Id>Othr>Id"`
		Entries []camtEntry `xml:"Ntry"`
	}
	camtEntry struct {
		Ref         string        `xml:"NtryRef"`
		Amount      camtAmount    `xml:"Amt"`
		Indicator   string        `xml:"CdtDbtInd"`
		Reversal    string        `xml:"RvslInd"`
		Status      camtStatus    `xml:"Sts"`
		Booked      camtDate      `xml:"BookgDt"`
		Value       camtDate      `xml:"ValDt"`
		ServicerRef string        `xml:"AcctSvcrRef"`
		Details     []camtDetails `xml:"NtryDtls"`
		Info        string        `xml:"AddtlNtryInf"`
	}
	camtStatus struct {
		Code string `xml:"Cd"`
		Text string `xml:",chardata"`
	}
	camtDate struct {
		Date     string `xml:"Dt"`
		DateTime string `xml:"DtTm"`
	}
	camtDetails struct {
		Transactions []camtTx `xml:"TxDtls"`
	}
	camtTx struct {
		ServicerRef  string      `xml:"Refs>AcctSvcrRef"`
		EndToEndID   string      `xml:"Refs>EndToEndId"`
		Amount       *camtAmount `xml:"Amt"`
		DetailAmount *camtAmount `xml:"AmtDtls>TxAmt>Amt"`
		Indicator    string      `xml:"CdtDbtInd"`
		Unstructured []string    `xml:"RmtInf>Ustrd"`
		Info         string      `xml:"AddtlTxInf"`
	}
	camtAmount struct {
		Currency string `xml:"Ccy,attr"`
		Value    string `xml:",chardata"`
	}
)

// StatementCSVHeader is the header row of a CSV statement, for banks and
// tools that give no camt. Each further row is one booked movement:
//
//   - booking_date: YYYY-MM-DD
//   - amount: a non-negative decimal with a point, at most the currency's
//     decimals (12.34; 1234 for JPY)
//   - currency: ISO 4217 code
//   - direction: C for money in, D for money out
//   - end_to_end_id: the payment's end-to-end id; may be empty
//   - reference: the remittance text; may be empty
//
// Columns are comma-separated, quoted as RFC 4180 says, in this order; a
// UTF-8 byte-order mark before the header is ignored. A CSV statement
// carries no bank reference, so its lines are deduplicated by content.
var StatementCSVHeader = []string{"booking_date", "amount", "currency", "direction", "end_to_end_id", "reference"}

// ReadStatementCSV reads a CSV statement in the format StatementCSVHeader
// describes. Errors name the row (1 is the header) and column.
func ReadStatementCSV(r io.Reader) ([]StatementLine, error) {
	rows, err := readCSV(r, StatementCSVHeader)
	if err != nil {
		return nil, err
	}
	var out []StatementLine
	for _, row := range rows {
		l := StatementLine{EndToEndID: row.get("end_to_end_id"), Reference: row.get("reference")}
		if l.BookingDate, err = ParseDate(row.get("booking_date")); err != nil {
			return nil, row.invalid("booking_date", err)
		}
		l.Amount.Currency = row.get("currency")
		if l.Amount.Minor, err = ParseAmount(row.get("amount"), l.Amount.Currency); err != nil {
			return nil, row.invalid("amount", err)
		}
		switch row.get("direction") {
		case "C":
			l.Direction = Credit
		case "D":
			l.Direction = Debit
		default:
			return nil, row.invalid("direction", fmt.Errorf("%q is neither C nor D", row.get("direction")))
		}
		out = append(out, l)
	}
	return out, nil
}

// csvRow is a data row of a CSV with a known header.
type csvRow struct {
	n      int // 1-based, the header being row 1
	header []string
	cells  []string
}

func (r csvRow) get(column string) string {
	for i, h := range r.header {
		if h == column {
			return r.cells[i]
		}
	}
	panic("payments: no CSV column " + column) // a typo in this package
}

func (r csvRow) invalid(column string, err error) error {
	return invalid(fmt.Sprintf("row %d.%s", r.n, column), "%v", err)
}

// readCSV reads a CSV whose first row must be header.
func readCSV(r io.Reader, header []string) ([]csvRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(header)
	var rows []csvRow
	for n := 1; ; n++ {
		cells, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalid(fmt.Sprintf("row %d", n), "%v", err)
		}
		if n == 1 {
			cells[0] = strings.TrimPrefix(cells[0], "\ufeff")
			for i, h := range header {
				if strings.TrimSpace(cells[i]) != h {
					return nil, invalid("row 1", "want the header %s, got %s", strings.Join(header, ","), strings.Join(cells, ","))
				}
			}
			continue
		}
		rows = append(rows, csvRow{n: n, header: header, cells: cells})
	}
	if rows == nil && cr.InputOffset() == 0 {
		return nil, invalid("row 1", "want the header %s, got nothing", strings.Join(header, ","))
	}
	return rows, nil
}
