package payments

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/coalition-loyalty/coalition/coalition"
)

// InstructionCSVHeader names the columns of the instructions CSV: the same
// instructions as the pain.001, for finance to read, check, or upload to a
// bank that takes no XML. Amounts are decimals of the currency (12.34);
// dates are YYYY-MM-DD; due_date is empty when it is the execution date.
var InstructionCSVHeader = []string{
	"end_to_end_id", "window_from", "window_to",
	"debtor_code", "debtor_name", "debtor_iban", "debtor_account", "debtor_bic", "debtor_bank_id", "debtor_currency",
	"creditor_code", "creditor_name", "creditor_iban", "creditor_account", "creditor_bic", "creditor_bank_id", "creditor_currency",
	"amount", "currency", "execution_date", "due_date",
}

// WriteInstructionsCSV writes the instructions as CSV: the header, then
// one row each, in order. Instructions are validated first as for
// WritePain001, and IBANs and BICs written in their normal form; names are
// written as given, since a CSV has no character set to keep to, except
// that a cell a spreadsheet would run as a formula gets a leading quote
// (see defuse).
func WriteInstructionsCSV(w io.Writer, instructions []Instruction) error {
	rows := [][]string{InstructionCSVHeader}
	for i, in := range instructions {
		n, err := in.normalized()
		if err != nil {
			return within("instructions["+strconv.Itoa(i)+"]", err)
		}
		amount, _ := FormatAmount(n.Amount) // normalized checked the currency
		d, c := n.Debtor, n.Creditor
		row := []string{
			n.EndToEndID, n.WindowFrom.String(), n.WindowTo.String(),
			d.Code, d.Name, d.IBAN, d.Account, d.BIC, d.BankID, d.Currency,
			c.Code, c.Name, c.IBAN, c.Account, c.BIC, c.BankID, c.Currency,
			amount, n.Amount.Currency, n.ExecutionDate.String(), n.DueDate.String(),
		}
		for i := range row {
			row[i] = defuse(row[i])
		}
		rows = append(rows, row)
	}
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// ReadInstructionsCSV reads what WriteInstructionsCSV writes, and
// validates each instruction. Errors name the row (1 is the header) and
// the column or field.
func ReadInstructionsCSV(r io.Reader) ([]Instruction, error) {
	rows, err := readCSV(r, InstructionCSVHeader)
	if err != nil {
		return nil, err
	}
	var out []Instruction
	for _, row := range rows {
		for i := range row.cells {
			row.cells[i] = rearm(row.cells[i])
		}
		party := func(side string) Party {
			return Party{
				Code: row.get(side + "_code"), Name: row.get(side + "_name"),
				IBAN: row.get(side + "_iban"), Account: row.get(side + "_account"),
				BIC: row.get(side + "_bic"), BankID: row.get(side + "_bank_id"),
				Currency: row.get(side + "_currency"),
			}
		}
		in := Instruction{
			EndToEndID: row.get("end_to_end_id"),
			Debtor:     party("debtor"),
			Creditor:   party("creditor"),
			Amount:     coalition.Money{Currency: row.get("currency")},
		}
		for _, d := range []struct {
			column   string
			to       *Date
			optional bool
		}{
			{"window_from", &in.WindowFrom, false},
			{"window_to", &in.WindowTo, false},
			{"execution_date", &in.ExecutionDate, false},
			{"due_date", &in.DueDate, true},
		} {
			if s := row.get(d.column); s != "" || !d.optional {
				if *d.to, err = ParseDate(s); err != nil {
					return nil, row.invalid(d.column, err)
				}
			}
		}
		if in.Amount.Minor, err = ParseAmount(row.get("amount"), in.Amount.Currency); err != nil {
			return nil, row.invalid("amount", err)
		}
		if err := in.Validate(); err != nil {
			return nil, within("row "+strconv.Itoa(row.n), err)
		}
		out = append(out, in)
	}
	return out, nil
}

// defuse quotes a cell that a spreadsheet would take for a formula (one
// starting with = + - @, a tab or a carriage return, after any quotes):
// names come from partners, and finance opens this file in a spreadsheet.
// rearm undoes it, so the CSV reads back to the same instructions.
func defuse(cell string) string {
	if formula(cell) {
		return "'" + cell
	}
	return cell
}

func rearm(cell string) string {
	if len(cell) > 1 && cell[0] == '\'' && formula(cell[1:]) {
		return cell[1:]
	}
	return cell
}

func formula(cell string) bool {
	for i := 0; i < len(cell); i++ {
		switch cell[i] {
		case '\'':
			continue
		case '=', '+', '-', '@', '\t', '\r':
			return true
		}
		return false
	}
	return false
}
