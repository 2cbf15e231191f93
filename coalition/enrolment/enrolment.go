// Package enrolment lets people join the coalition by themselves at a
// partner's counter: they scan the partner's enrolment QR code, prove a
// phone number (or an e-mail address) with a one-time code, accept the
// programme's terms, and are enrolled at that partner, or signed in to the
// card they already have. Nothing it says before the code is verified
// depends on whether the contact belongs to a member, and every limit it
// keeps lives in the database.
package enrolment

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
	"github.com/coalition-loyalty/coalition/coalition/ledger"
	"github.com/coalition-loyalty/coalition/coalition/partners"
	"github.com/coalition-loyalty/coalition/coalition/phone"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

// The limits of the flow. A code lives CodeTTL and takes MaxAttempts
// tries; a contact gets at most ContactLimit codes per ContactWindow and a
// client address ClientLimit per ClientWindow. With six digits, that
// leaves a guesser one chance in 66 000 per contact per 15 minutes.
const (
	CodeTTL       = 10 * time.Minute
	MaxAttempts   = 5
	ContactLimit  = 3
	ContactWindow = 15 * time.Minute
	ClientLimit   = 10
	ClientWindow  = time.Hour
	// CodeRetention is how long a lapsed code is kept: longer than any
	// limit's window, and a day to look into abuse.
	CodeRetention = 24 * time.Hour
)

// Channel is how a self-enrolled member joined, as acquisition figures
// count it.
const Channel = "qr"

// ContactKind is what a person proves to join: a phone number (codes by
// SMS) or an e-mail address (codes by e-mail).
type ContactKind string

const (
	Phone ContactKind = "phone"
	Email ContactKind = "email"
)

// Sender delivers a one-time code's message to a phone number or an e-mail
// address (package sender has the SMS, SMTP and dev implementations).
type Sender interface {
	Send(ctx context.Context, to, text string) error
}

// Ledger enrolls members and finds them (*ledger.Ledger).
type Ledger interface {
	Enroll(ctx context.Context, partner coalition.PartnerID, e ledger.Enrollment) (ledger.Member, error)
	MemberOf(ctx context.Context, ref ledger.MemberRef) (ledger.Member, error)
}

// Partners finds the partner a QR code names (*partners.Register).
type Partners interface {
	ByCode(ctx context.Context, code string) (partners.Partner, error)
}

// Sessions signs a verified member in (*sessions.Store).
type Sessions interface {
	SignInMember(ctx context.Context, member coalition.MemberID) (sessions.Session, string, error)
}

// Config wires a Service.
type Config struct {
	Tx *txn.Runner
	// Hasher keys the hashes of contacts, codes and client addresses: the
	// phone numbers' hash (Vault's transit HMAC), so that a phone's hash
	// here is the one the ledger keeps.
	Hasher   phone.Hasher
	Sender   Sender
	Ledger   Ledger
	Partners Partners
	Sessions Sessions
	// Contact is what the pages ask for (Phone if empty).
	Contact ContactKind
	// TermsVersion is the version of the programme's terms a person
	// accepts; it is recorded with the consent.
	TermsVersion string
	// Clock judges codes and limits (time.Now if nil): the real time, as
	// for the other credentials.
	Clock func() time.Time
	Log   *slog.Logger
}

// Service runs self-enrolment.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Contact == "" {
		cfg.Contact = Phone
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg}
}

// Contact is what the pages ask for.
func (s *Service) Contact() ContactKind { return s.cfg.Contact }

// TermsVersion is the version of the terms consented to.
func (s *Service) TermsVersion() string { return s.cfg.TermsVersion }

// The refusals. None of them, before a code is verified, depends on
// whether the contact is a member's.
var (
	// ErrNoPoint: the QR code names no active partner, or no well-formed
	// point of sale.
	ErrNoPoint = errors.New("enrolment: no such enrolment point")
	// ErrContact: what was typed is no phone number (in international
	// form) or no e-mail address.
	ErrContact = errors.New("enrolment: not a valid contact")
	// ErrTooMany: a limit is reached (codes per contact or per client
	// address, or attempts per code); the person tries again later.
	ErrTooMany = errors.New("enrolment: too many attempts, try again later")
	// ErrExpired: the code is unknown, used or expired (or the browser's
	// token does not match the contact): a new one is needed.
	ErrExpired = errors.New("enrolment: the code is unknown, used or expired")
	// ErrConsent: the programme's terms were not accepted.
	ErrConsent = errors.New("enrolment: the programme's terms were not accepted")
	// ErrUndelivered: the sender could not deliver the code.
	ErrUndelivered = errors.New("enrolment: the code could not be sent")
)

// WrongCode refuses a code that is not the one sent; Left more attempts
// remain.
type WrongCode struct{ Left int }

func (e WrongCode) Error() string {
	return fmt.Sprintf("enrolment: wrong code (%d attempts left)", e.Left)
}

// Point is where a person joins: a partner, and one of its points of sale
// if the QR code names one.
type Point struct {
	Partner  partners.Partner
	Location string
}

var (
	partnerCode = regexp.MustCompile(`^[a-z][a-z0-9-]{1,31}$`)
	// A point of sale's code: short, lower case, safe in a URL.
	locationCode = regexp.MustCompile(`^([a-z0-9][a-z0-9-]{0,31})?$`)
)

// Point finds the enrolment point a QR code names: an active partner by
// its code, and a point of sale's code ("" for none). Points of sale are
// not registered: the code is recorded as the QR code gives it.
func (s *Service) Point(ctx context.Context, partner, location string) (Point, error) {
	if !partnerCode.MatchString(partner) || !locationCode.MatchString(location) {
		return Point{}, ErrNoPoint
	}
	p, err := s.cfg.Partners.ByCode(ctx, partner)
	if e, ok := coalition.AsError(err); ok && e.Code == coalition.NotFound {
		return Point{}, ErrNoPoint
	}
	if err != nil {
		return Point{}, fmt.Errorf("enrolment point: %w", err)
	}
	if p.Status != "active" {
		return Point{}, ErrNoPoint
	}
	return Point{Partner: p, Location: location}, nil
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// Normalize turns what a person typed into the contact a code is sent to:
// a phone number in E.164 (spaces, dashes, dots and brackets dropped; a
// leading 00 read as +), or an e-mail address in lower case. It refuses
// anything else with ErrContact.
func Normalize(kind ContactKind, typed string) (string, error) {
	typed = strings.TrimSpace(typed)
	switch kind {
	case Phone:
		n := strings.Map(func(r rune) rune {
			if strings.ContainsRune(" -.()\u00a0", r) {
				return -1
			}
			return r
		}, typed)
		if strings.HasPrefix(n, "00") {
			n = "+" + n[2:]
		}
		if !e164.MatchString(n) {
			return "", ErrContact
		}
		return n, nil
	case Email:
		a, err := mail.ParseAddress(typed)
		// Only a bare address: no display name, no comments, no quoting.
		if err != nil || a.Address != typed || len(typed) > 254 || strings.ContainsAny(typed, "\"\\ \r\n<>") {
			return "", ErrContact
		}
		return strings.ToLower(typed), nil
	}
	return "", fmt.Errorf("enrolment: unknown contact kind %q", kind)
}

// Mask shows a contact as a page may show it: a phone number's last two
// digits, an e-mail address's first letter and domain.
func Mask(kind ContactKind, contact string) string {
	if kind == Email {
		local, domain, _ := strings.Cut(contact, "@")
		first, _ := utf8.DecodeRuneInString(local)
		if local == "" {
			return ""
		}
		return string(first) + "•••@" + domain
	}
	return phone.Mask(phone.Last2(contact))
}

// Request asks for a code.
type Request struct {
	Point Point
	// Contact is the phone number or e-mail address as the person typed it.
	Contact string
	// Client is the address the request came from (the connection's, or
	// the one a trusted proxy forwarded).
	Client netip.Addr
	// Message is the text sent, given the code, in the person's language.
	Message func(code string) string
}

// Challenge is a code sent: the token that names it, for the person's
// browser only, and the contact it went to.
type Challenge struct {
	Token     string
	Contact   string // normalised
	ExpiresAt time.Time
}

// TokenPrefix starts every challenge token.
const TokenPrefix = "jc_"

func (s *Service) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Microsecond) }

// Start sends a new code to the contact, unless a limit is reached: the
// same whether or not the contact is a member's, so the answer tells
// nothing of membership. The code is drawn from crypto/rand and stored
// only as a keyed hash bound to its token.
func (s *Service) Start(ctx context.Context, req Request) (Challenge, error) {
	contact, err := Normalize(s.cfg.Contact, req.Contact)
	if err != nil {
		return Challenge{}, err
	}
	contactHash, err := s.contactHash(ctx, contact)
	if err != nil {
		return Challenge{}, err
	}
	clientHash, err := s.hash(ctx, "client:"+ClientKey(req.Client))
	if err != nil {
		return Challenge{}, err
	}
	code, err := newCode()
	if err != nil {
		return Challenge{}, err
	}
	tok, err := newToken()
	if err != nil {
		return Challenge{}, err
	}
	tokenHash := sha256.Sum256([]byte(tok))
	codeHash, err := s.codeHash(ctx, tokenHash[:], code)
	if err != nil {
		return Challenge{}, err
	}
	now := s.now()
	ch := Challenge{Token: tok, Contact: contact, ExpiresAt: now.Add(CodeTTL)}
	err = s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		var perContact, perClient int
		b := &pgx.Batch{}
		b.Queue(`SELECT count(*) FROM enrolment_codes WHERE contact_hash = $1 AND created_at > $2`,
			contactHash, now.Add(-ContactWindow)).QueryRow(func(r pgx.Row) error { return r.Scan(&perContact) })
		b.Queue(`SELECT count(*) FROM enrolment_codes WHERE client_hash = $1 AND created_at > $2`,
			clientHash, now.Add(-ClientWindow)).QueryRow(func(r pgx.Row) error { return r.Scan(&perClient) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("count codes: %w", err)
		}
		if perContact >= ContactLimit || perClient >= ClientLimit {
			return ErrTooMany
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO enrolment_codes (token_hash, contact_hash, client_hash, code_hash, partner_id, location, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			tokenHash[:], contactHash, clientHash, codeHash, req.Point.Partner.ID, req.Point.Location, now, ch.ExpiresAt)
		return err
	})
	if errors.Is(err, ErrTooMany) {
		return Challenge{}, err
	}
	if err != nil {
		return Challenge{}, fmt.Errorf("enrolment: store code: %w", err)
	}
	// Sent after the commit, outside the transaction, which may run more
	// than once; a code that fails to go still counts against the limits.
	if err := s.cfg.Sender.Send(ctx, contact, req.Message(code)); err != nil {
		// The sender's error may echo the address or the provider's URL:
		// only its kind is logged.
		s.cfg.Log.WarnContext(ctx, "send enrolment code", "partner", req.Point.Partner.Code, "contact", string(s.cfg.Contact),
			"error", fmt.Sprintf("%T", err))
		return Challenge{}, ErrUndelivered
	}
	return ch, nil
}

// Verification is a code typed back, with the terms' consent.
type Verification struct {
	// Token and Contact are the Challenge's, as the browser kept them.
	Token   string
	Contact string
	Code    string
	Consent bool
}

// Result is a verified person, signed in.
type Result struct {
	Member ledger.Member
	// New: the member was enrolled now (else: signed in to their card).
	New bool
	// Session and its token, for the browser's cookie.
	Session      sessions.Session
	SessionToken string
}

// challenge is what a verified code says of where it was asked for.
type challenge struct {
	partner  coalition.PartnerID
	location string
}

// Verify checks a code. A wrong one costs an attempt; the right one
// enrolls the person at the partner whose QR code they scanned (with its
// welcome bonus, by the rules) or finds the member the contact belongs
// to, records the consent to the terms, and signs the member in. Until
// the code is right, nothing it reads or answers depends on membership.
func (s *Service) Verify(ctx context.Context, v Verification) (Result, error) {
	if !v.Consent {
		return Result{}, ErrConsent
	}
	contact, err := Normalize(s.cfg.Contact, v.Contact)
	if err != nil || !strings.HasPrefix(v.Token, TokenPrefix) || len(v.Token) > 100 {
		return Result{}, ErrExpired
	}
	contactHash, err := s.contactHash(ctx, contact)
	if err != nil {
		return Result{}, err
	}
	tokenHash := sha256.Sum256([]byte(v.Token))
	var got []byte // stays nil for what is not six digits: no code matches it
	if code := strings.TrimSpace(v.Code); sixDigits(code) {
		if got, err = s.codeHash(ctx, tokenHash[:], code); err != nil {
			return Result{}, err
		}
	}
	now := s.now()
	var c challenge
	var wrong *WrongCode
	err = s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		wrong = nil
		var contactWas, want []byte
		var expires time.Time
		var used *time.Time
		var attempts int
		err := tx.QueryRow(ctx, `
			SELECT contact_hash, code_hash, partner_id, location, expires_at, attempts, used_at
			FROM enrolment_codes WHERE token_hash = $1`, tokenHash[:]).
			Scan(&contactWas, &want, &c.partner, &c.location, &expires, &attempts, &used)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrExpired
		case err != nil:
			return err
		case !bytes.Equal(contactWas, contactHash) || used != nil:
			return ErrExpired
		case attempts >= MaxAttempts:
			return ErrTooMany
		case !now.Before(expires):
			return ErrExpired
		}
		right := got != nil && hmac.Equal(got, want)
		var usedAt *time.Time
		if right {
			usedAt = &now
		} else {
			wrong = &WrongCode{Left: MaxAttempts - attempts - 1}
		}
		_, err = tx.Exec(ctx, `UPDATE enrolment_codes SET attempts = attempts + 1, used_at = $2 WHERE token_hash = $1`,
			tokenHash[:], usedAt)
		return err
	})
	if errors.Is(err, ErrExpired) || errors.Is(err, ErrTooMany) {
		return Result{}, err
	}
	if err != nil {
		return Result{}, fmt.Errorf("enrolment: check code: %w", err)
	}
	if wrong != nil {
		return Result{}, *wrong
	}
	m, isNew, err := s.member(ctx, c, contact, contactHash)
	if err != nil {
		return Result{}, err
	}
	if err := s.consent(ctx, m.ID); err != nil {
		return Result{}, err
	}
	sess, tok, err := s.cfg.Sessions.SignInMember(ctx, m.ID)
	if err != nil {
		return Result{}, fmt.Errorf("enrolment: sign in: %w", err)
	}
	return Result{Member: m, New: isNew, Session: sess, SessionToken: tok}, nil
}

// claim is a self_enrolments row.
type claim struct {
	partner coalition.PartnerID
	key     string
	member  *coalition.MemberID
}

// member is the member a verified contact belongs to, enrolled now at the
// challenge's partner if there is none. A contact's claim row comes before
// the ledger's enrolment, which runs under the claim's idempotency key: so
// a second verification at the same time, or a retry after a crash
// between the two, enrolls no second member.
func (s *Service) member(ctx context.Context, c challenge, contact string, contactHash []byte) (ledger.Member, bool, error) {
	cl, found, err := s.readClaim(ctx, contactHash)
	if err != nil {
		return ledger.Member{}, false, err
	}
	if !found && s.cfg.Contact == Phone {
		// A member a partner enrolled with this phone.
		m, err := s.cfg.Ledger.MemberOf(ctx, ledger.MemberRef{Phone: contact})
		if err == nil {
			return m, false, nil
		}
		if e, ok := coalition.AsError(err); !ok || e.Code != coalition.NotFound {
			return ledger.Member{}, false, fmt.Errorf("enrolment: find member: %w", err)
		}
	}
	if !found {
		if cl, err = s.writeClaim(ctx, c, contactHash); err != nil {
			return ledger.Member{}, false, err
		}
	}
	if cl.member != nil {
		m, err := s.cfg.Ledger.MemberOf(ctx, ledger.MemberRef{ID: *cl.member})
		if err != nil {
			return ledger.Member{}, false, fmt.Errorf("enrolment: find member: %w", err)
		}
		return m, false, nil
	}
	e := ledger.Enrollment{IdempotencyKey: cl.key}
	if s.cfg.Contact == Phone {
		e.Phone = contact
	}
	m, err := s.cfg.Ledger.Enroll(ctx, cl.partner, e)
	if err == nil {
		err = s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
				UPDATE self_enrolments SET member_id = $2, enrolled_at = $3
				WHERE contact_hash = $1 AND member_id IS NULL`, contactHash, m.ID, s.now())
			return err
		})
		if err != nil {
			return ledger.Member{}, false, fmt.Errorf("enrolment: record enrolment: %w", err)
		}
		return m, true, nil
	}
	refusal, refused := coalition.AsError(err)
	if !refused {
		// Perhaps enrolled, perhaps not: the claim stays, and the next
		// verification replays its key.
		return ledger.Member{}, false, fmt.Errorf("enrolment: enroll: %w", err)
	}
	// Refused: the claim goes, so that it does not hold the contact.
	if rerr := s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM self_enrolments WHERE contact_hash = $1 AND enrol_key = $2 AND member_id IS NULL`,
			contactHash, cl.key)
		return err
	}); rerr != nil {
		return ledger.Member{}, false, fmt.Errorf("enrolment: release claim: %w", rerr)
	}
	if refusal.Code == coalition.Conflict && s.cfg.Contact == Phone {
		// A partner enrolled the phone meanwhile.
		m, err := s.cfg.Ledger.MemberOf(ctx, ledger.MemberRef{Phone: contact})
		if err != nil {
			return ledger.Member{}, false, fmt.Errorf("enrolment: find member: %w", err)
		}
		return m, false, nil
	}
	return ledger.Member{}, false, fmt.Errorf("enrolment: enroll: %w", err)
}

func (s *Service) readClaim(ctx context.Context, contactHash []byte) (claim, bool, error) {
	var cl claim
	err := s.cfg.Tx.Pool().QueryRow(ctx, `SELECT partner_id, enrol_key, member_id FROM self_enrolments WHERE contact_hash = $1`,
		contactHash).Scan(&cl.partner, &cl.key, &cl.member)
	if errors.Is(err, pgx.ErrNoRows) {
		return claim{}, false, nil
	}
	if err != nil {
		return claim{}, false, fmt.Errorf("enrolment: read claim: %w", err)
	}
	return cl, true, nil
}

// writeClaim claims the contact for the challenge's partner, or returns
// the claim another verification made first.
func (s *Service) writeClaim(ctx context.Context, c challenge, contactHash []byte) (claim, error) {
	key := "self-enrolment/" + coalition.NewID().String()
	var cl claim
	err := s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO self_enrolments (contact_hash, contact_kind, partner_id, location, channel, enrol_key, claimed_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (contact_hash) DO NOTHING`,
			contactHash, string(s.cfg.Contact), c.partner, c.location, Channel, key, s.now()); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT partner_id, enrol_key, member_id FROM self_enrolments WHERE contact_hash = $1`,
			contactHash).Scan(&cl.partner, &cl.key, &cl.member)
	})
	if err != nil {
		return claim{}, fmt.Errorf("enrolment: claim contact: %w", err)
	}
	return cl, nil
}

// consent records the member's consent to the terms in force; the first
// consent to a version stays.
func (s *Service) consent(ctx context.Context, member coalition.MemberID) error {
	err := s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO terms_consents (member_id, terms_version, consented_at, channel) VALUES ($1, $2, $3, $4)
			ON CONFLICT (member_id, terms_version) DO NOTHING`, member, s.cfg.TermsVersion, s.now(), Channel)
		return err
	})
	if err != nil {
		return fmt.Errorf("enrolment: record consent: %w", err)
	}
	return nil
}

// PurgeCodes deletes up to limit codes that lapsed more than CodeRetention
// ago and says how many it deleted; the maintenance job repeats it while
// a whole batch goes.
func (s *Service) PurgeCodes(ctx context.Context, limit int) (int64, error) {
	before := s.now().Add(-CodeRetention)
	var n int64
	err := s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			DELETE FROM enrolment_codes WHERE token_hash IN (
				SELECT token_hash FROM enrolment_codes WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)`, before, limit)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge enrolment codes: %w", err)
	}
	return n, nil
}

// ClientKey is what the per-address limit counts by: an IPv4 address, or
// an IPv6 address's /64, which one household or phone gets whole.
func ClientKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is6():
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// contactHash is a phone number's hash as the ledger keeps it, or an
// e-mail address's under the same key (the prefix keeps the two apart).
func (s *Service) contactHash(ctx context.Context, contact string) ([]byte, error) {
	if s.cfg.Contact == Email {
		return s.hash(ctx, "email:"+contact)
	}
	return s.hash(ctx, contact)
}

// codeHash binds a code to its token, so that equal codes of two
// challenges hash apart.
func (s *Service) codeHash(ctx context.Context, tokenHash []byte, code string) ([]byte, error) {
	return s.hash(ctx, "code:"+hex.EncodeToString(tokenHash)+":"+code)
}

func (s *Service) hash(ctx context.Context, v string) ([]byte, error) {
	h, err := s.cfg.Hasher.HashPhone(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("enrolment: keyed hash: %w", err)
	}
	return h, nil
}

// newCode draws six decimal digits, uniformly, from crypto/rand.
func newCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

func sixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
