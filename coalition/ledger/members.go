package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/card"
	"github.com/coalition-loyalty/coalition/coalition/phone"
)

// Member is a member as partners see them.
type Member struct {
	ID            coalition.MemberID  `json:"id"`
	CardNumber    string              `json:"card_number"`
	QRToken       string              `json:"qr_token,omitempty"`
	ReferralCode  string              `json:"referral_code"`
	PhoneLast2    string              `json:"phone_last2,omitempty"`
	HomePartnerID coalition.PartnerID `json:"home_partner_id"`
	EnrolledAt    time.Time           `json:"enrolled_at"`
	// WelcomePoints is the enrolling partner's welcome bonus, given at
	// enrollment (zero when looked up later).
	WelcomePoints coalition.Points `json:"welcome_points,omitempty"`
}

// MemberRef names a member by exactly one of its identifiers.
type MemberRef struct {
	ID         coalition.MemberID `json:"id,omitzero"`
	CardNumber string             `json:"card_number,omitempty"`
	Phone      string             `json:"phone,omitempty"` // E.164
	QRToken    string             `json:"qr_token,omitempty"`
}

// Enrollment is a partner's request to enroll a member.
type Enrollment struct {
	IdempotencyKey string `json:"-"`
	Phone          string `json:"phone,omitempty"` // E.164, optional
	ReferralCode   string `json:"referral_code,omitempty"`
}

// Enroll creates a member with a new card number, QR token and referral
// code, and the member's two ledger accounts.
func (l *Ledger) Enroll(ctx context.Context, partner coalition.PartnerID, e Enrollment) (Member, error) {
	var phoneHash []byte
	if e.Phone != "" {
		h, err := l.phones.HashPhone(ctx, e.Phone)
		if err != nil {
			return Member{}, fmt.Errorf("enroll: hash phone: %w", err)
		}
		phoneHash = h
	}
	// Random identifiers are drawn outside the transaction body so that a
	// retry does not change what a replay will return.
	m := Member{ID: coalition.NewMemberID(), HomePartnerID: partner, PhoneLast2: ""}
	var err error
	if m.CardNumber, err = card.NewNumber(); err != nil {
		return Member{}, err
	}
	if m.QRToken, err = card.NewQRToken(); err != nil {
		return Member{}, err
	}
	if m.ReferralCode, err = card.NewReferralCode(); err != nil {
		return Member{}, err
	}
	if e.Phone != "" {
		m.PhoneLast2 = phone.Last2(e.Phone)
	}
	pointsAccount, debtAccount := coalition.NewID(), coalition.NewID()
	m, err = idempotent(ctx, l, partner, e.IdempotencyKey, "enroll", Enrollment{Phone: hashedPhone(phoneHash), ReferralCode: e.ReferralCode}, func(tx pgx.Tx, now time.Time) (Member, error) {
		c, err := loadContext(ctx, tx, partner, posts)
		if err != nil {
			return Member{}, err
		}
		if phoneHash != nil {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM members WHERE phone_hash = $1`, phoneHash).Scan(&n); err != nil {
				return Member{}, fmt.Errorf("enroll: check phone: %w", err)
			}
			if n > 0 {
				return Member{}, coalition.Errorf(coalition.Conflict, "phone", "a member with this phone number is already enrolled")
			}
		}
		var referrer *coalition.MemberID
		if e.ReferralCode != "" {
			var id coalition.MemberID
			err := tx.QueryRow(ctx, `SELECT id FROM members WHERE referral_code = $1`, e.ReferralCode).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return Member{}, coalition.Errorf(coalition.NotFound, "referral_code", "no member has referral code %s", e.ReferralCode)
			}
			if err != nil {
				return Member{}, fmt.Errorf("enroll: find referrer: %w", err)
			}
			referrer = &id
		}
		m.EnrolledAt = now
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO accounts (id, kind, owner_id) VALUES ($1, 'member', $3), ($2, 'member_debt', $3)`,
			pointsAccount, debtAccount, m.ID)
		b.Queue(`
			INSERT INTO members (id, card_number, qr_token, referral_code, phone_hash, phone_last2,
			                     referred_by, home_partner_id, points_account_id, debt_account_id, enrolled_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			m.ID, m.CardNumber, m.QRToken, m.ReferralCode, phoneHash, m.PhoneLast2,
			referrer, partner, pointsAccount, debtAccount, now)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return Member{}, fmt.Errorf("enroll: insert member: %w", err)
		}
		rs, err := l.rulesAt(ctx, tx, now)
		if err != nil {
			return Member{}, err
		}
		if w := rs.Welcome(c.code); w.Total > 0 {
			// A welcome bonus is no purchase: nothing to refund, so it is
			// spendable at once.
			row := memberRow{Member: m, pointsAccount: pointsAccount, debtAccount: debtAccount}
			bonus := newPosting(Transaction{
				ID: coalition.NewID(), Kind: KindBonus, PartnerID: partner, MemberID: m.ID,
				BusinessDate: c.date(), CreatedAt: now,
			})
			bonus.ruleVersion = w.Version
			// A new member owes nothing.
			if _, err := l.postLines(ctx, tx, c, row, bonus, w.Lines, now, now.AddDate(0, 0, c.pointsTTLDays), nil); err != nil {
				return Member{}, err
			}
			m.WelcomePoints = w.Total
		}
		return m, nil
	})
	if uniqueViolation(err, "members_phone_hash_key") {
		// The same phone enrolled concurrently and committed first.
		return Member{}, coalition.Errorf(coalition.Conflict, "phone", "a member with this phone number is already enrolled")
	}
	return m, err
}

// hashedPhone stands in for a phone number in what is stored of a request
// (the idempotency record's request hash), so the number is never kept in a
// form that can be brute-forced.
func hashedPhone(h []byte) string {
	if h == nil {
		return ""
	}
	return "hmac:" + hex.EncodeToString(h)
}

// forRecord is the reference as recorded with a request: a phone number is
// replaced by its keyed hash.
func (r MemberRef) forRecord(phoneHash []byte) MemberRef {
	if r.Phone != "" {
		r.Phone = hashedPhone(phoneHash)
	}
	return r
}

// memberRow is what postings need of a member.
type memberRow struct {
	Member
	pointsAccount uuid.UUID
	debtAccount   uuid.UUID
	referredBy    *coalition.MemberID
}

// hashRef turns a phone reference into the hash stored for it, before any
// transaction starts (the hasher may call Vault).
func (l *Ledger) hashRef(ctx context.Context, ref MemberRef) ([]byte, error) {
	if ref.Phone == "" {
		return nil, nil
	}
	h, err := l.phones.HashPhone(ctx, ref.Phone)
	if err != nil {
		return nil, fmt.Errorf("hash phone: %w", err)
	}
	return h, nil
}

// findMember resolves a reference inside a transaction. field is the
// request field holding the reference, for the error.
func findMember(ctx context.Context, tx pgx.Tx, a access, ref MemberRef, phoneHash []byte, field string) (memberRow, error) {
	where, arg, sub, err := memberWhere(ref, phoneHash, field)
	if err != nil {
		return memberRow{}, err
	}
	return scanMember(tx.QueryRow(ctx, memberSQL+where+a.member(), arg), field, sub)
}

// lockMember is the protocol's second lock: a posting holds each member
// whose points, lots, holds, debts or tier it changes FOR UPDATE, from
// before it reads them until it commits, so that postings of one member run
// one after the other and each reads what the one before it wrote. A
// posting that touches two members (a referral's bonus) locks the buyer,
// then the referrer, who enrolled earlier: the order follows the referral
// chain, which has no cycles.
const lockMember = `
	FOR UPDATE`

const memberSQL = `
	SELECT id, card_number, referral_code, phone_last2, home_partner_id, enrolled_at,
	       points_account_id, debt_account_id, referred_by
	FROM members WHERE `

// memberWhere is the condition that finds the member a reference names,
// its argument, and the name of the reference's field for errors.
func memberWhere(ref MemberRef, phoneHash []byte, field string) (string, any, string, error) {
	switch {
	case ref.ID != (coalition.MemberID{}):
		return "id = $1", ref.ID, "member_id", nil
	case ref.CardNumber != "":
		if !card.ValidNumber(ref.CardNumber) {
			return "", nil, "", coalition.Errorf(coalition.Invalid, field+".card_number", "is not a valid card number (check digit)")
		}
		return "card_number = $1", ref.CardNumber, "card_number", nil
	case ref.Phone != "":
		return "phone_hash = $1", phoneHash, "phone", nil
	case ref.QRToken != "":
		return "qr_token = $1", ref.QRToken, "qr_token", nil
	default:
		return "", nil, "", coalition.Errorf(coalition.Invalid, field, "names no member")
	}
}

func scanMember(row pgx.Row, field, sub string) (memberRow, error) {
	var m memberRow
	err := row.Scan(&m.ID, &m.CardNumber, &m.ReferralCode, &m.PhoneLast2, &m.HomePartnerID, &m.EnrolledAt,
		&m.pointsAccount, &m.debtAccount, &m.referredBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, coalition.Errorf(coalition.NotFound, field+"."+sub, "no such member")
	}
	if err != nil {
		return m, fmt.Errorf("find member: %w", err)
	}
	m.EnrolledAt = m.EnrolledAt.UTC()
	return m, nil
}

// Lookup finds a member for a partner at checkout.
func (l *Ledger) Lookup(ctx context.Context, partner coalition.PartnerID, ref MemberRef) (Member, error) {
	return l.lookup(ctx, &partner, ref)
}

// MemberOf finds a member for the operator, outside any partner's view.
func (l *Ledger) MemberOf(ctx context.Context, ref MemberRef) (Member, error) {
	return l.lookup(ctx, nil, ref)
}

func (l *Ledger) lookup(ctx context.Context, partner *coalition.PartnerID, ref MemberRef) (Member, error) {
	h, err := l.hashRef(ctx, ref)
	if err != nil {
		return Member{}, err
	}
	var m memberRow
	err = l.tx.Read(ctx, func(tx pgx.Tx) error {
		if partner != nil {
			_, m, err = loadContextAndMember(ctx, tx, reading, *partner, ref, h, "member")
		} else {
			m, err = findMember(ctx, tx, reading, ref, h, "member")
		}
		return err
	})
	return m.Member, err
}

func (a Accrual) record(phoneHash []byte) Accrual {
	a.Member = a.Member.forRecord(phoneHash)
	return a
}

func (r Redemption) record(phoneHash []byte) Redemption {
	r.Member = r.Member.forRecord(phoneHash)
	return r
}

func (a Authorization) record(phoneHash []byte) Authorization {
	a.Member = a.Member.forRecord(phoneHash)
	return a
}
