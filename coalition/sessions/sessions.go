// Package sessions keeps the sign-in sessions of people: finance and
// operator staff, who sign in with a credential the operator issued (a staff
// API key, checked by its Vault keyed hash), a partner's staff, who sign in
// to the partner portal with a credential of their partner, and members, who open a
// one-time link that the partner that enrolled them delivered, or enter a
// one-time code sent to them when they join by QR. Sessions and
// links live in the database so that every replica agrees on them; only the
// SHA-256 of a token or code is stored.
package sessions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/coalition/infra/txn"
)

// Roles a session may carry.
const (
	RoleMember   = "member"
	RoleFinance  = "finance"
	RoleOperator = "operator"
	// A partner's staff, in the partner portal (apikeys.PartnerStaffRoles).
	RolePartnerAdmin     = apikeys.RolePartnerAdmin
	RolePartnerFinance   = apikeys.RolePartnerFinance
	RolePartnerMarketing = apikeys.RolePartnerMarketing
)

// TokenPrefix starts every session token, and LinkPrefix every member link
// code, so that either is recognisable wherever it turns up.
const (
	TokenPrefix = "cs_"
	LinkPrefix  = "ml_"
)

// Default lifetimes: a staff session lasts a working day, a member's a week
// on their phone, and a link long enough for an SMS to arrive.
const (
	DefaultStaffTTL  = 8 * time.Hour
	DefaultMemberTTL = 7 * 24 * time.Hour
	DefaultLinkTTL   = 15 * time.Minute
)

// Session is a signed-in person.
type Session struct {
	Role         string
	MemberID     coalition.MemberID // member sessions
	CredentialID uuid.UUID          // staff sessions: the credential signed in with
	// PartnerID is the partner of a partner's staff (the credential's).
	PartnerID coalition.PartnerID
	Name      string
	// CSRF is the token the session's forms must echo.
	CSRF      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PartnerRole says whether the session is of a partner's staff.
func (s Session) PartnerRole() bool { return apikeys.IsPartnerStaff(s.Role) }

// Credentials checks a staff credential (package apikeys).
type Credentials interface {
	Check(ctx context.Context, secret string) (apikeys.Key, error)
}

// Config wires a store.
type Config struct {
	Tx          *txn.Runner
	Credentials Credentials
	Clock       func() time.Time
	// Lifetimes; zero means the default.
	StaffTTL, MemberTTL, LinkTTL time.Duration
}

// Store starts, checks and ends sessions, and issues member links.
type Store struct {
	cfg Config
}

func New(cfg Config) *Store {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.StaffTTL == 0 {
		cfg.StaffTTL = DefaultStaffTTL
	}
	if cfg.MemberTTL == 0 {
		cfg.MemberTTL = DefaultMemberTTL
	}
	if cfg.LinkTTL == 0 {
		cfg.LinkTTL = DefaultLinkTTL
	}
	return &Store{cfg: cfg}
}

// ErrBadCredential refuses a sign-in: the credential is unknown, revoked,
// expired, or not a staff credential. Which of these is not said.
var ErrBadCredential = errors.New("sessions: invalid staff credential")

// ErrBadLink refuses a member link that is unknown, used or expired.
var ErrBadLink = errors.New("sessions: invalid, used or expired link")

// ErrNoSession is the answer for a token of no live session.
var ErrNoSession = errors.New("sessions: no such session")

func (s *Store) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Microsecond) }

func secret(prefix string) (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, hash(tok), nil
}

func hash(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// SignInStaff checks a staff credential and starts a session for its role.
// It returns the session and its token, to be kept by the browser only.
func (s *Store) SignInStaff(ctx context.Context, credential string) (Session, string, error) {
	credential = strings.TrimSpace(credential)
	if s.cfg.Credentials == nil { // a server without Vault has no staff credentials
		return Session{}, "", ErrBadCredential
	}
	k, err := s.cfg.Credentials.Check(ctx, credential)
	if errors.Is(err, apikeys.ErrInvalid) {
		return Session{}, "", ErrBadCredential
	}
	if err != nil {
		return Session{}, "", fmt.Errorf("sign in: %w", err)
	}
	sess := Session{Role: k.Role, CredentialID: k.ID, Name: k.Name}
	switch {
	case k.Role == RoleFinance || k.Role == RoleOperator:
	case apikeys.IsPartnerStaff(k.Role) && k.PartnerID != nil:
		sess.PartnerID = *k.PartnerID
	default: // a partner's API key is for its systems, not for people
		return Session{}, "", ErrBadCredential
	}
	return s.start(ctx, sess, nil)
}

// start stores a new session; before, when given, runs first in the same
// transaction (to use up a link).
func (s *Store) start(ctx context.Context, sess Session, before func(pgx.Tx) (Session, error)) (Session, string, error) {
	tok, h, err := secret(TokenPrefix)
	if err != nil {
		return Session{}, "", err
	}
	csrf, _, err := secret("")
	if err != nil {
		return Session{}, "", err
	}
	now := s.now()
	err = s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		out := sess
		if before != nil {
			if out, err = before(tx); err != nil {
				return err
			}
		}
		ttl := s.cfg.StaffTTL
		if out.Role == RoleMember {
			ttl = s.cfg.MemberTTL
		}
		out.CSRF, out.CreatedAt, out.ExpiresAt = csrf, now, now.Add(ttl)
		var member *coalition.MemberID
		var cred *uuid.UUID
		var partner *coalition.PartnerID
		if out.Role == RoleMember {
			member = &out.MemberID
		} else {
			cred = &out.CredentialID
		}
		if apikeys.IsPartnerStaff(out.Role) {
			partner = &out.PartnerID
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO web_sessions (token_hash, role, member_id, credential_id, partner_id, name, csrf_token, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			h, out.Role, member, cred, partner, out.Name, out.CSRF, out.CreatedAt, out.ExpiresAt); err != nil {
			return fmt.Errorf("store session: %w", err)
		}
		sess = out
		return nil
	})
	if err != nil {
		return Session{}, "", err
	}
	return sess, tok, nil
}

// Check returns the live session a token belongs to. A staff session ends
// as soon as its credential is revoked or expires.
func (s *Store) Check(ctx context.Context, token string) (Session, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 100 {
		return Session{}, ErrNoSession
	}
	var sess Session
	var member *coalition.MemberID
	var cred *uuid.UUID
	var partner *coalition.PartnerID
	err := s.cfg.Tx.Pool().QueryRow(ctx, `
		SELECT s.role, s.member_id, s.credential_id, s.partner_id, s.name, s.csrf_token, s.created_at, s.expires_at
		FROM web_sessions AS s
		LEFT JOIN api_keys AS k ON k.id = s.credential_id
		WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2
		  AND (s.credential_id IS NULL OR (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)))`,
		hash(token), s.now()).Scan(&sess.Role, &member, &cred, &partner, &sess.Name, &sess.CSRF, &sess.CreatedAt, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("check session: %w", err)
	}
	if member != nil {
		sess.MemberID = *member
	}
	if cred != nil {
		sess.CredentialID = *cred
	}
	if partner != nil {
		sess.PartnerID = *partner
	}
	return sess, nil
}

// End signs a session out. Ending an unknown or ended session is not an
// error: signing out twice leaves the same state.
func (s *Store) End(ctx context.Context, token string) error {
	if !strings.HasPrefix(token, TokenPrefix) {
		return nil
	}
	return s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE web_sessions SET ended_at = $2 WHERE token_hash = $1 AND ended_at IS NULL`,
			hash(token), s.now())
		return err
	})
}

// IssueMemberLink issues a one-time code that opens a session of member,
// for the partner that enrolled the member (home): a partner may hand out
// access only to its own members. It returns the code and when it lapses.
func (s *Store) IssueMemberLink(ctx context.Context, partner coalition.PartnerID, member coalition.MemberID, home coalition.PartnerID) (string, time.Time, error) {
	if partner != home {
		return "", time.Time{}, coalition.Errorf(coalition.PermissionDenied, "member",
			"only the partner that enrolled the member may issue the member's link")
	}
	code, h, err := secret(LinkPrefix)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	until := now.Add(s.cfg.LinkTTL)
	err = s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO member_links (code_hash, member_id, partner_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			h, member, partner, now, until)
		return err
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue member link: %w", err)
	}
	return code, until, nil
}

// OpenMemberLink uses a link up and starts the member's session.
func (s *Store) OpenMemberLink(ctx context.Context, code string) (Session, string, error) {
	code = strings.TrimSpace(code)
	if !strings.HasPrefix(code, LinkPrefix) || len(code) > 100 {
		return Session{}, "", ErrBadLink
	}
	now := s.now()
	return s.start(ctx, Session{Role: RoleMember}, func(tx pgx.Tx) (Session, error) {
		var member coalition.MemberID
		var card string
		err := tx.QueryRow(ctx, `
			UPDATE member_links AS l SET used_at = $2
			FROM members AS m
			WHERE l.code_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2 AND m.id = l.member_id
			RETURNING l.member_id, m.card_number`, hash(code), now).Scan(&member, &card)
		if errors.Is(err, pgx.ErrNoRows) {
			return Session{}, ErrBadLink
		}
		if err != nil {
			return Session{}, fmt.Errorf("open member link: %w", err)
		}
		// The session's name is the card's last four digits: enough for the
		// member to recognise it, never the whole number.
		return Session{Role: RoleMember, MemberID: member, Name: "•••• " + card[len(card)-4:]}, nil
	})
}

// SignInMember starts a session of a member who proved who they are
// another way than by a link: self-enrolment's one-time code, sent to the
// member's phone number or e-mail address (package enrolment).
func (s *Store) SignInMember(ctx context.Context, member coalition.MemberID) (Session, string, error) {
	return s.start(ctx, Session{Role: RoleMember}, func(tx pgx.Tx) (Session, error) {
		var card string
		if err := tx.QueryRow(ctx, `SELECT card_number FROM members WHERE id = $1`, member).Scan(&card); err != nil {
			return Session{}, fmt.Errorf("sign member in: %w", err)
		}
		return Session{Role: RoleMember, MemberID: member, Name: "•••• " + card[len(card)-4:]}, nil
	})
}

// DefaultRetention is how long sessions and links are kept after they
// lapse: long enough to answer "who was signed in last week", short enough
// that the tables do not grow with every sign-in for ever.
const DefaultRetention = 30 * 24 * time.Hour

// Purge deletes up to limit sessions and up to limit member links that
// lapsed before now minus retention, and says how many rows it deleted. A
// lapsed row opens nothing, so deleting it changes no answer of Check or
// OpenMemberLink. The deletes are bounded so that each transaction stays
// small on CockroachDB; the caller repeats while a whole batch went.
func (s *Store) Purge(ctx context.Context, retention time.Duration, limit int) (int64, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	before := s.now().Add(-retention)
	var n int64
	err := s.cfg.Tx.Run(ctx, func(tx pgx.Tx) error {
		n = 0
		for _, q := range []string{
			`DELETE FROM web_sessions WHERE token_hash IN (
				SELECT token_hash FROM web_sessions WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)`,
			`DELETE FROM member_links WHERE code_hash IN (
				SELECT code_hash FROM member_links WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)`,
		} {
			tag, err := tx.Exec(ctx, q, before, limit)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return n, nil
}
