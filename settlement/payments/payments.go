// Package payments turns cleared settlement windows into money that moves
// through banks and checks that it moved: payment instructions, the
// pain.001 file and CSV a bank or finance takes, the camt.053/camt.054 and
// CSV statements a bank returns, and their reconciliation and ageing. It
// is pure: no database, no clock, no network; callers pass in what it
// needs, times included.
package payments

import (
	"fmt"

	"github.com/coalition-loyalty/coalition/coalition"
)

// Party is one side of a payment as the banks know it.
type Party struct {
	// Code is the party's code in clearing reports (a partner's code, or
	// clearing.Operator): it names the party in end-to-end ids and ageing.
	Code string
	// Name is the legal name, the account holder's name at the bank. It is
	// written to bank files in the Latin set and cut to 140 characters.
	Name string
	// IBAN, or Account for an account number where IBANs are not used:
	// exactly one of them.
	IBAN    string
	Account string
	// BIC of the account's bank, when known; BankID is a domestic bank
	// identifier (sort code, routing number) for banks reached without one.
	// An Account needs one of them; an IBAN names its bank already.
	BIC    string
	BankID string
	// Currency is the account's ISO 4217 currency.
	Currency string
}

// Instruction is one payment that settles a cleared window, or a range of
// windows netted together, between two parties.
type Instruction struct {
	// EndToEndID travels with the money to both statements; see EndToEndID.
	EndToEndID           string
	WindowFrom, WindowTo Date
	Debtor, Creditor     Party
	// Amount is what the debtor pays, in the accounts' currency.
	Amount coalition.Money
	// ExecutionDate is the day the debtor's bank is asked to pay, from the
	// partner's terms.
	ExecutionDate Date
	// DueDate is the day the money is owed by, for ageing; the zero Date
	// means ExecutionDate.
	DueDate Date
}

// Due is the day the money is owed by.
func (in Instruction) Due() Date {
	if in.DueDate.IsZero() {
		return in.ExecutionDate
	}
	return in.DueDate
}

// Remittance is the text the creditor sees with the money: the window or
// windows it settles, so a partner's finance can book it without asking.
func (in Instruction) Remittance() string {
	if in.WindowFrom == in.WindowTo {
		return "Coalition settlement window " + in.WindowFrom.String() + " " + in.EndToEndID
	}
	return "Coalition settlement windows " + in.WindowFrom.String() + " to " + in.WindowTo.String() + " " + in.EndToEndID
}

// Direction is which way money moves on an account, in ISO 20022's codes.
type Direction string

const (
	// Credit is money coming in.
	Credit Direction = "CRDT"
	// Debit is money going out.
	Debit Direction = "DBIT"
)

// Expect is how the instruction shows on the statement of holder's
// account: a debit when holder pays, a credit when holder is paid, and
// false when holder is neither side.
func (in Instruction) Expect(holder string) (Direction, bool) {
	switch holder {
	case in.Debtor.Code:
		return Debit, true
	case in.Creditor.Code:
		return Credit, true
	}
	return "", false
}

// Validate checks that the instruction can go to a bank: every field a
// payment needs, an IBAN with a good checksum, a BIC of the right shape,
// a positive amount in a currency of known minor unit that both accounts
// hold, and dates that exist. The error is a coalition.Error naming the
// field (debtor.iban, amount.minor, …).
func (in Instruction) Validate() error {
	_, err := in.normalized()
	return err
}

// normalized is the instruction with its IBANs and BICs in the form banks
// file them, or the first thing wrong with it.
func (in Instruction) normalized() (Instruction, error) {
	if err := checkID(in.EndToEndID); err != nil {
		return in, invalid("end_to_end_id", "%v", err)
	}
	if !in.WindowFrom.valid() {
		return in, invalid("window_from", "%q is not a date", in.WindowFrom.String())
	}
	if !in.WindowTo.valid() {
		return in, invalid("window_to", "%q is not a date", in.WindowTo.String())
	}
	if in.WindowTo.Compare(in.WindowFrom) < 0 {
		return in, invalid("window_to", "%s is before window_from %s", in.WindowTo, in.WindowFrom)
	}
	var err error
	if in.Debtor, err = in.Debtor.normalized("debtor"); err != nil {
		return in, err
	}
	if in.Creditor, err = in.Creditor.normalized("creditor"); err != nil {
		return in, err
	}
	if in.Creditor.Code == in.Debtor.Code {
		return in, invalid("creditor.code", "%q is the debtor too", in.Creditor.Code)
	}
	if in.Creditor.accountKey() == in.Debtor.accountKey() {
		return in, invalid("creditor.iban", "the creditor's account is the debtor's")
	}
	if _, ok := Exponent(in.Amount.Currency); !ok {
		return in, invalid("amount.currency", "%q is not a currency of known minor unit", in.Amount.Currency)
	}
	if in.Amount.Minor <= 0 {
		return in, invalid("amount.minor", "must be positive, got %d", in.Amount.Minor)
	}
	if in.Amount.Minor > coalition.MaxAmount {
		return in, invalid("amount.minor", "%d is above the maximum %d", in.Amount.Minor, int64(coalition.MaxAmount))
	}
	// A payment across currencies is a conversion the bank prices; here a
	// mismatch is far more likely a wrong account than an intended one.
	if in.Debtor.Currency != in.Amount.Currency {
		return in, invalid("debtor.currency", "account in %s, amount in %s", in.Debtor.Currency, in.Amount.Currency)
	}
	if in.Creditor.Currency != in.Amount.Currency {
		return in, invalid("creditor.currency", "account in %s, amount in %s", in.Creditor.Currency, in.Amount.Currency)
	}
	if !in.ExecutionDate.valid() {
		return in, invalid("execution_date", "%q is not a date", in.ExecutionDate.String())
	}
	if !in.DueDate.IsZero() && !in.DueDate.valid() {
		return in, invalid("due_date", "%q is not a date", in.DueDate.String())
	}
	return in, nil
}

func (p Party) normalized(field string) (Party, error) {
	if p.Code == "" {
		return p, invalid(field+".code", "is required")
	}
	if sanitize(p.Name, maxName) == "" {
		return p, invalid(field+".name", "%q has no letters or digits a bank accepts", p.Name)
	}
	switch {
	case p.IBAN != "" && p.Account != "":
		return p, invalid(field+".account", "give an IBAN or an account number, not both")
	case p.IBAN != "":
		iban, err := NormalizeIBAN(p.IBAN)
		if err != nil {
			return p, invalid(field+".iban", "%v", err)
		}
		p.IBAN = iban
	case p.Account != "":
		if len(p.Account) > 34 || sanitize(p.Account, 34) != p.Account {
			return p, invalid(field+".account", "%q: want at most 34 letters, digits and -/?:().,'+", p.Account)
		}
		if p.BIC == "" && p.BankID == "" {
			return p, invalid(field+".bank_id", "an account number needs its bank: a BIC or a bank id")
		}
	default:
		return p, invalid(field+".iban", "an IBAN or an account number is required")
	}
	if p.BIC != "" {
		bic, err := NormalizeBIC(p.BIC)
		if err != nil {
			return p, invalid(field+".bic", "%v", err)
		}
		p.BIC = bic
	}
	if p.BankID != "" {
		if len(p.BankID) > maxID || sanitize(p.BankID, maxID) != p.BankID {
			return p, invalid(field+".bank_id", "%q: want at most 35 letters, digits and -/?:().,'+", p.BankID)
		}
	}
	if _, ok := Exponent(p.Currency); !ok {
		return p, invalid(field+".currency", "%q is not a currency of known minor unit", p.Currency)
	}
	return p, nil
}

// maxName is the length of ISO 20022 Max140Text, the type of names.
const maxName = 140

// accountKey tells accounts apart: two parties with the same key hold the
// same account.
func (p Party) accountKey() string {
	if p.IBAN != "" {
		return "IBAN " + p.IBAN
	}
	return fmt.Sprintf("ACCT %s %s %s", p.Account, p.BIC, p.BankID)
}

func invalid(field, format string, args ...any) error {
	return coalition.Errorf(coalition.Invalid, field, format, args...)
}

// within puts field in front of the field a domain error names, so that an
// error about one instruction of many says which.
func within(field string, err error) error {
	e, ok := coalition.AsError(err)
	if !ok {
		return fmt.Errorf("%s: %w", field, err)
	}
	if e.Field != "" {
		field += "." + e.Field
	}
	return coalition.Errorf(e.Code, field, "%s", e.Message)
}
