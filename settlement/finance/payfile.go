package finance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// File formats of payment files.
const (
	Pain001 = "pain.001"
	CSV     = "csv"
)

// PaymentFile is a file of the operator's payments for its bank: made
// once, from instructions no other file carries, and kept as made.
type PaymentFile struct {
	// ID is the file's message id (pain.001 MsgId): the bank refuses a
	// file whose id it has seen.
	ID         string
	CreatedAt  time.Time
	CreatedBy  Actor
	Payments   int
	TotalMinor int64
	Currency   string
	// Included are the file's instructions (when it was just made, or
	// read whole).
	Included []Instruction
}

// Held is an instruction of the operator's to pay that no file can carry
// yet, and why.
type Held struct {
	Instruction Instruction
	Reason      string
}

// FilePayments makes a payment file of the operator's payments among the
// selected instructions (by due date; or named) that no file carries yet:
// each goes from the operator's confirmed settlement account to the
// partner's confirmed account. An instruction goes into one file only, so
// making files again never pays twice; payments that cannot be filed (no
// confirmed details, another currency) are held, and named, until they
// can. Two people making files at once get disjoint files.
func (f *Finance) FilePayments(ctx context.Context, by Actor, flt InstructionFilter) (PaymentFile, []Held, error) {
	if err := checkActor(by); err != nil {
		return PaymentFile{}, nil, err
	}
	today, err := f.Today(ctx)
	if err != nil {
		return PaymentFile{}, nil, err
	}
	var out PaymentFile
	var held []Held
	err = f.tx.Write(ctx, func(tx pgx.Tx) error {
		out, held = PaymentFile{}, nil
		flt.Unfiled, flt.FiledIn = true, ""
		unfiled, err := queryInstructions(ctx, tx, flt, true)
		if err != nil {
			return err
		}
		accounts, err := confirmedAccounts(ctx, tx)
		if err != nil {
			return err
		}
		var lines []payments.Instruction
		lines, out.Included, held = fileable(unfiled, accounts, payments.DateOf(today))
		if len(lines) == 0 {
			return coalition.Errorf(coalition.FailedPrecondition, "", "no payment of the operator's can be filed: %d not filed yet, %d of them held",
				len(unfiled), len(held))
		}
		ids := make([]string, len(lines))
		for i, l := range lines {
			ids[i] = l.EndToEndID
			out.TotalMinor += l.Amount.Minor
		}
		sum := sha256.Sum256([]byte(strings.Join(ids, "\n")))
		out.ID = "CO-PAY-" + strings.ToUpper(hex.EncodeToString(sum[:12]))
		out.CreatedAt, out.CreatedBy, out.Payments, out.Currency = f.now().UTC().Truncate(time.Second), by, len(lines), lines[0].Amount.Currency
		var xml, table bytes.Buffer
		if err := payments.WritePain001(&xml, payments.Header{MessageID: out.ID, Created: out.CreatedAt,
			Initiator: accounts[clearing.Operator].LegalName}, lines); err != nil {
			return err
		}
		if err := payments.WriteInstructionsCSV(&table, lines); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO payment_files (id, created_at, created_by, created_by_name, payments, total_minor, currency, pain001, csv)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			out.ID, out.CreatedAt, by.ID, by.Name, out.Payments, out.TotalMinor, out.Currency, xml.Bytes(), table.Bytes()); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE payment_instructions SET filed_in = $1 WHERE end_to_end_id = ANY ($2)`, out.ID, ids)
		return err
	})
	if err != nil {
		return PaymentFile{}, held, fmt.Errorf("file payments: %w", err)
	}
	return out, held, nil
}

// fileable sorts the operator's payments into what a bank can be given
// and what is held, and why.
func fileable(ins []Instruction, accounts map[string]BankAccount, today payments.Date) ([]payments.Instruction, []Instruction, []Held) {
	var lines []payments.Instruction
	var included []Instruction
	var held []Held
	debtor, ok := accounts[clearing.Operator]
	for _, in := range ins {
		creditor, known := accounts[in.Party]
		switch {
		case !ok:
			held = append(held, Held{in, "the operator's settlement account is not confirmed"})
			continue
		case !known:
			held = append(held, Held{in, "no confirmed banking details for " + in.Party})
			continue
		case creditor.Currency != in.Currency || debtor.Currency != in.Currency:
			held = append(held, Held{in, fmt.Sprintf("the accounts are not in %s", in.Currency)})
			continue
		}
		p := bankInstruction(in, debtor, creditor)
		if err := p.Validate(); err != nil {
			held = append(held, Held{in, err.Error()})
			continue
		}
		// A bank executes on a day not yet past.
		if p.ExecutionDate.Compare(today) < 0 {
			p.ExecutionDate = today
		}
		lines = append(lines, p)
		included = append(included, in)
	}
	return lines, included, held
}

// Unfiled lists the operator's payments no file carries yet, held ones
// with why.
func (f *Finance) Unfiled(ctx context.Context) ([]Held, error) {
	today, err := f.Today(ctx)
	if err != nil {
		return nil, err
	}
	var out []Held
	err = f.tx.Read(ctx, func(tx pgx.Tx) error {
		ins, err := queryInstructions(ctx, tx, InstructionFilter{Unfiled: true}, false)
		if err != nil {
			return err
		}
		accounts, err := confirmedAccounts(ctx, tx)
		if err != nil {
			return err
		}
		_, included, held := fileable(ins, accounts, payments.DateOf(today))
		out = held
		for _, in := range included {
			out = append(out, Held{Instruction: in})
		}
		return nil
	})
	return out, err
}

// PaymentFiles lists the files made, newest first.
func (f *Finance) PaymentFiles(ctx context.Context, limit int) ([]PaymentFile, error) {
	rows, err := f.tx.Pool().Query(ctx, `
		SELECT id, created_at, created_by, created_by_name, payments, total_minor, currency
		FROM payment_files ORDER BY created_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("payment files: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PaymentFile, error) {
		var p PaymentFile
		err := r.Scan(&p.ID, &p.CreatedAt, &p.CreatedBy.ID, &p.CreatedBy.Name, &p.Payments, &p.TotalMinor, &p.Currency)
		return p, err
	})
}

// PaymentFileData is a file as it was made, as pain.001 or CSV, with its
// instructions.
func (f *Finance) PaymentFileData(ctx context.Context, id, format string) (PaymentFile, []byte, error) {
	column := map[string]string{Pain001: "pain001", CSV: "csv"}[format]
	if column == "" {
		return PaymentFile{}, nil, coalition.Errorf(coalition.Invalid, "format", "must be %s or %s", Pain001, CSV)
	}
	var p PaymentFile
	var data []byte
	err := f.tx.Read(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			SELECT id, created_at, created_by, created_by_name, payments, total_minor, currency, `+column+`
			FROM payment_files WHERE id = $1`, id).
			Scan(&p.ID, &p.CreatedAt, &p.CreatedBy.ID, &p.CreatedBy.Name, &p.Payments, &p.TotalMinor, &p.Currency, &data)
		if errors.Is(err, pgx.ErrNoRows) {
			return coalition.Errorf(coalition.NotFound, "file_id", "no payment file %q", id)
		}
		if err != nil {
			return err
		}
		p.Included, err = queryInstructions(ctx, tx, InstructionFilter{FiledIn: id}, false)
		return err
	})
	if err != nil {
		return PaymentFile{}, nil, fmt.Errorf("payment file %s: %w", id, err)
	}
	return p, data, nil
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
