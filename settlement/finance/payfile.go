package finance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// File formats of payment instructions.
const (
	Pain001 = "pain.001"
	CSV     = "csv"
)

// PaymentFile is a file of payment instructions for a bank or a person.
type PaymentFile struct {
	Format string
	Data   []byte
	// Included are the instructions in the file.
	Included []Instruction
	// Held are the selected instructions the file could not carry, with
	// why (a party without confirmed banking details, another currency).
	Held []Held
}

// Held is an instruction left out of a payment file, and why.
type Held struct {
	Instruction Instruction
	Reason      string
}

// PaymentFile makes the file of the operator's payments among the selected
// instructions: a pain.001 for the operator's bank, which pays each
// partner it owes from the settlement account, or the same as CSV. Money
// partners owe the operator is theirs to send, and is in no file. The
// file's message id is a digest of the instructions it carries, so the
// same selection gives the same id and a bank refuses it the second time:
// a file uploaded twice does not pay twice.
func (f *Finance) PaymentFile(ctx context.Context, format string, flt InstructionFilter) (PaymentFile, error) {
	out := PaymentFile{Format: format}
	if format != Pain001 && format != CSV {
		return out, coalition.Errorf(coalition.Invalid, "format", "must be %s or %s", Pain001, CSV)
	}
	selected, err := f.Instructions(ctx, flt)
	if err != nil {
		return out, err
	}
	var accounts map[string]BankAccount
	if err := f.tx.Read(ctx, func(tx pgx.Tx) error {
		accounts, err = confirmedAccounts(ctx, tx)
		return err
	}); err != nil {
		return out, err
	}
	debtor, ok := accounts[clearing.Operator]
	var lines []payments.Instruction
	today := payments.DateOf(dayOf(f.now()))
	for _, in := range selected {
		if in.Direction != Pay {
			continue
		}
		creditor, known := accounts[in.Party]
		switch {
		case !ok:
			out.Held = append(out.Held, Held{in, "the operator's settlement account is not confirmed"})
			continue
		case !known:
			out.Held = append(out.Held, Held{in, "no confirmed banking details for " + in.Party})
			continue
		case creditor.Currency != in.Currency || debtor.Currency != in.Currency:
			out.Held = append(out.Held, Held{in, fmt.Sprintf("the accounts are not in %s", in.Currency)})
			continue
		}
		p := bankInstruction(in, debtor, creditor)
		// A bank executes on a day not yet past.
		if p.ExecutionDate.Compare(today) < 0 {
			p.ExecutionDate = today
		}
		lines = append(lines, p)
		out.Included = append(out.Included, in)
	}
	if len(lines) == 0 {
		return out, coalition.Errorf(coalition.FailedPrecondition, "", "no payment of the operator's among the selected instructions can be filed (%d held)", len(out.Held))
	}
	var buf bytes.Buffer
	if format == CSV {
		err = payments.WriteInstructionsCSV(&buf, lines)
	} else {
		ids := make([]string, len(lines))
		for i, l := range lines {
			ids[i] = l.EndToEndID
		}
		sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
		err = payments.WritePain001(&buf, payments.Header{MessageID: "CO-PAY-" + strings.ToUpper(hex.EncodeToString(sum[:12])),
			Created: f.now(), Initiator: debtor.LegalName}, lines)
	}
	if err != nil {
		return out, fmt.Errorf("payment file: %w", err)
	}
	out.Data = buf.Bytes()
	return out, nil
}

// bankInstruction is an instruction as the banks see it.
func bankInstruction(in Instruction, debtor, creditor BankAccount) payments.Instruction {
	return payments.Instruction{
		EndToEndID: in.EndToEndID,
		WindowFrom: payments.DateOf(in.From), WindowTo: payments.DateOf(in.To),
		Debtor: bankParty(debtor), Creditor: bankParty(creditor),
		Amount:        coalition.Money{Minor: in.Minor, Currency: in.Currency},
		ExecutionDate: payments.DateOf(in.Due),
		DueDate:       payments.DateOf(in.Due),
	}
}

func bankParty(a BankAccount) payments.Party {
	return payments.Party{Code: a.Party, Name: a.LegalName, IBAN: a.IBAN, Account: a.AccountNumber, BIC: a.BIC, Currency: a.Currency}
}

// reconcilable is an instruction as Reconcile sees it: the operator's side
// and the partner's, by code.
func reconcilable(in Instruction) payments.Instruction {
	p := payments.Instruction{
		EndToEndID: in.EndToEndID,
		WindowFrom: payments.DateOf(in.From), WindowTo: payments.DateOf(in.To),
		Debtor:        payments.Party{Code: clearing.Operator},
		Creditor:      payments.Party{Code: in.Party},
		Amount:        coalition.Money{Minor: in.Minor, Currency: in.Currency},
		ExecutionDate: payments.DateOf(in.Due),
	}
	if in.Direction == Collect {
		p.Debtor, p.Creditor = p.Creditor, p.Debtor
	}
	return p
}
