package finance

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/settlement/clearing"
	"github.com/coalition-loyalty/coalition/settlement/payments"
)

// Frequency is how often a party's net is paid.
type Frequency string

const (
	Daily   Frequency = "daily"
	Weekly  Frequency = "weekly"  // ISO weeks, Monday to Sunday
	Monthly Frequency = "monthly" // calendar months
)

// Default terms of a party without confirmed banking details: its
// instructions are made all the same, and wait in the payment files until
// the details are confirmed.
const (
	DefaultFrequency   = Daily
	DefaultPaymentDays = 2
)

// BankAccount is one version of a party's banking details and payment
// terms.
type BankAccount struct {
	ID            uuid.UUID
	Party         string // a partner's code, or clearing.Operator
	LegalName     string
	IBAN          string // or AccountNumber, for a bank that uses no IBAN
	AccountNumber string
	BIC           string // of the account's bank; an account number needs one
	Currency      string
	Frequency     Frequency
	PaymentDays   int
	Status        string // proposed, confirmed, rejected, superseded
	ProposedBy    Actor
	ProposedAt    time.Time
	DecidedBy     *Actor
	DecidedAt     *time.Time
}

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	accountRE  = regexp.MustCompile(`^[A-Za-z0-9/\-?:().,'+ ]{1,34}$`)
)

// ProposeAccount records a new version of a party's banking details; it
// takes effect once another person confirms it.
func (f *Finance) ProposeAccount(ctx context.Context, by Actor, a BankAccount) (BankAccount, error) {
	if err := checkActor(by); err != nil {
		return BankAccount{}, err
	}
	a.IBAN = strings.ToUpper(strings.ReplaceAll(a.IBAN, " ", ""))
	a.BIC = strings.ToUpper(strings.TrimSpace(a.BIC))
	a.LegalName = strings.TrimSpace(a.LegalName)
	if a.Frequency == "" {
		a.Frequency = DefaultFrequency
	}
	if err := validateAccount(a); err != nil {
		return BankAccount{}, err
	}
	a.ID, a.Status, a.ProposedBy, a.ProposedAt = coalition.NewID(), "proposed", by, f.now()
	err := f.tx.Write(ctx, func(tx pgx.Tx) error {
		if err := knownParty(ctx, tx, a.Party); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO bank_accounts (id, party, legal_name, iban, account_number, bic, currency,
			                           payment_frequency, payment_days, status, proposed_by, proposed_by_name, proposed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'proposed', $10, $11, $12)`,
			a.ID, a.Party, a.LegalName, a.IBAN, a.AccountNumber, a.BIC, a.Currency,
			string(a.Frequency), a.PaymentDays, by.ID, by.Name, a.ProposedAt)
		return err
	})
	if err != nil {
		return BankAccount{}, fmt.Errorf("propose bank account of %s: %w", a.Party, err)
	}
	return a, nil
}

func validateAccount(a BankAccount) error {
	switch {
	case a.LegalName == "" || len([]rune(a.LegalName)) > 140:
		return coalition.Errorf(coalition.Invalid, "legal_name", "must be 1 to 140 characters")
	case a.IBAN == "" && a.AccountNumber == "":
		return coalition.Errorf(coalition.Invalid, "iban", "give an IBAN, or an account number for a bank without IBANs")
	case a.IBAN != "" && a.AccountNumber != "":
		return coalition.Errorf(coalition.Invalid, "account_number", "give an IBAN or an account number, not both")
	case a.AccountNumber != "" && !accountRE.MatchString(a.AccountNumber):
		return coalition.Errorf(coalition.Invalid, "account_number", "must be 1 to 34 letters, digits or separators")
	case !currencyRE.MatchString(a.Currency):
		return coalition.Errorf(coalition.Invalid, "currency", "must be an ISO 4217 code such as EUR")
	case a.Frequency != Daily && a.Frequency != Weekly && a.Frequency != Monthly:
		return coalition.Errorf(coalition.Invalid, "payment_frequency", "must be daily, weekly or monthly")
	case a.PaymentDays < 0 || a.PaymentDays > 90:
		return coalition.Errorf(coalition.Invalid, "payment_days", "must be 0 to 90")
	}
	if a.IBAN != "" {
		if _, err := payments.NormalizeIBAN(a.IBAN); err != nil {
			return coalition.Errorf(coalition.Invalid, "iban", "%v", err)
		}
	}
	if a.BIC != "" {
		if _, err := payments.NormalizeBIC(a.BIC); err != nil {
			return coalition.Errorf(coalition.Invalid, "bic", "%v", err)
		}
	} else if a.AccountNumber != "" {
		return coalition.Errorf(coalition.Invalid, "bic", "an account number needs its bank's BIC")
	}
	if _, ok := payments.Exponent(a.Currency); !ok {
		return coalition.Errorf(coalition.Invalid, "currency", "%s is not a currency payment files can carry", a.Currency)
	}
	return nil
}

// knownParty refuses details for a party the coalition does not have.
func knownParty(ctx context.Context, tx pgx.Tx, party string) error {
	if party == clearing.Operator {
		return nil
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM partners WHERE code = $1 AND kind <> 'operator')`, party).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return coalition.Errorf(coalition.NotFound, "party", "no partner %q in the coalition", party)
	}
	return nil
}

// DecideAccount confirms or rejects a proposed version. The person who
// proposed it may do neither. Confirming supersedes the party's current
// version; two people deciding at once are taken one at a time.
func (f *Finance) DecideAccount(ctx context.Context, by Actor, id uuid.UUID, confirm bool) (BankAccount, error) {
	if err := checkActor(by); err != nil {
		return BankAccount{}, err
	}
	var a BankAccount
	err := f.tx.Write(ctx, func(tx pgx.Tx) error {
		// Every version of the party's, in one order: two people confirming
		// two versions at once are taken one after the other, and the
		// second supersedes the first.
		if _, err := tx.Exec(ctx, `
			SELECT id FROM bank_accounts
			WHERE party = (SELECT party FROM bank_accounts WHERE id = $1)
			ORDER BY id FOR UPDATE`, id); err != nil {
			return err
		}
		var err error
		if a, err = scanAccount(tx.QueryRow(ctx, accountSelect+` WHERE id = $1 FOR UPDATE`, id)); errors.Is(err, pgx.ErrNoRows) {
			return coalition.Errorf(coalition.NotFound, "id", "no proposed bank account %s", id)
		} else if err != nil {
			return err
		}
		if a.Status != "proposed" {
			return coalition.Errorf(coalition.FailedPrecondition, "id", "bank account %s is already %s", id, a.Status)
		}
		if a.ProposedBy.ID == by.ID {
			return coalition.Errorf(coalition.PermissionDenied, "id", "the person who proposed a change cannot also decide it")
		}
		now := f.now()
		status := "rejected"
		if confirm {
			status = "confirmed"
			if _, err := tx.Exec(ctx, `UPDATE bank_accounts SET status = 'superseded' WHERE party = $1 AND status = 'confirmed'`, a.Party); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `
			UPDATE bank_accounts SET status = $2, decided_by = $3, decided_by_name = $4, decided_at = $5 WHERE id = $1`,
			id, status, by.ID, by.Name, now); err != nil {
			return err
		}
		a.Status, a.DecidedBy, a.DecidedAt = status, &by, &now
		return nil
	})
	if err != nil {
		return BankAccount{}, fmt.Errorf("decide bank account %s: %w", id, err)
	}
	return a, nil
}

// Accounts lists every version of the parties' banking details, newest
// first per party (all parties when party is empty).
func (f *Finance) Accounts(ctx context.Context, party string) ([]BankAccount, error) {
	rows, err := f.tx.Pool().Query(ctx, accountSelect+`
		WHERE $1 = '' OR party = $1 ORDER BY party, proposed_at DESC, id`, party)
	if err != nil {
		return nil, fmt.Errorf("bank accounts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (BankAccount, error) { return scanAccount(r) })
}

// confirmedAccounts are the accounts payments use, by party.
func confirmedAccounts(ctx context.Context, q pgx.Tx) (map[string]BankAccount, error) {
	rows, err := q.Query(ctx, accountSelect+` WHERE status = 'confirmed'`)
	if err != nil {
		return nil, fmt.Errorf("confirmed bank accounts: %w", err)
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BankAccount, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("confirmed bank accounts: %w", err)
	}
	out := map[string]BankAccount{}
	for _, a := range as {
		out[a.Party] = a
	}
	return out, nil
}

const accountSelect = `
	SELECT id, party, legal_name, iban, account_number, bic, currency, payment_frequency, payment_days,
	       status, proposed_by, proposed_by_name, proposed_at, decided_by, decided_by_name, decided_at
	FROM bank_accounts`

func scanAccount(r pgx.Row) (BankAccount, error) {
	var a BankAccount
	var freq string
	var decidedBy, decidedName *string
	err := r.Scan(&a.ID, &a.Party, &a.LegalName, &a.IBAN, &a.AccountNumber, &a.BIC, &a.Currency, &freq, &a.PaymentDays,
		&a.Status, &a.ProposedBy.ID, &a.ProposedBy.Name, &a.ProposedAt, &decidedBy, &decidedName, &a.DecidedAt)
	a.Frequency = Frequency(freq)
	if decidedBy != nil {
		a.DecidedBy = &Actor{ID: *decidedBy, Name: *decidedName}
	}
	return a, err
}
