package rpc

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/apikeys"
	"github.com/coalition-loyalty/coalition/settlement/finance"
)

// Role is what a caller may do.
type Role string

const (
	RolePartner  Role = "partner"
	RoleFinance  Role = "finance"
	RoleOperator Role = "operator"
	RoleMember   Role = "member"
)

// Principal is the authenticated caller. For a partner, PartnerID comes from
// its credentials, never from a request field; for a member, MemberID comes
// from the member's session.
type Principal struct {
	Role      Role
	PartnerID coalition.PartnerID
	MemberID  coalition.MemberID
	// Person names the member of staff behind a finance or operator
	// caller: "staff:<name>", the name the operator issued their
	// credential to (a staff API key, a session signed in with one, a
	// staff certificate; --name of `coalitionctl staff issue`), the same
	// across a person's credentials and their rotations, so that no one
	// is two people to the four eyes. Finance actions that take two
	// people compare it. PersonName is for people to read.
	Person     string
	PersonName string
	// Portal is the portal role of a partner's staff member (partner-admin,
	// partner-finance, partner-marketing): such a caller acts as its
	// partner (Role partner, PartnerID set), but only for the methods
	// portalMethods opens to its portal role.
	Portal string
}

// staffPrincipal is the caller behind a staff credential (a staff API key,
// or a session signed in with one): the coalition's finance or operator
// staff, a person of their own; or a partner's staff, acting as their
// partner with their portal role.
func staffPrincipal(role string, partner *coalition.PartnerID, name string) Principal {
	pr := Principal{Role: Role(role), Person: finance.StaffID(name), PersonName: name}
	if apikeys.IsPartnerStaff(role) && partner != nil {
		pr.Role, pr.PartnerID, pr.Portal = RolePartner, *partner, role
		// A partner's staff are no one to the coalition's four eyes.
		pr.Person, pr.PersonName = "", name
	}
	return pr
}

// Authenticator establishes who is calling from the connection and its
// metadata. The mutual-TLS implementation reads the partner id from the
// client certificate; DevAuthenticator serves dev mode and tests.
type Authenticator interface {
	Authenticate(ctx context.Context) (Principal, error)
}

type principalKey struct{}

// PrincipalFrom returns the caller the auth interceptor established.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// PartnerFinder resolves a partner's code to its id.
type PartnerFinder interface {
	PartnerIDByCode(ctx context.Context, code string) (coalition.PartnerID, error)
}

// DevAuthenticator accepts "authorization: Dev <partner-code>" metadata for
// a partner, "Dev role=finance" or "Dev role=operator" for staff (with
// " staff=<name>" after it to act as another person, as a second
// approver does), and
// "Dev member=<member id>" for a member. It
// proves nothing about the caller, so the server accepts it only on a
// loopback address in dev mode; real partners use client certificates.
type DevAuthenticator struct {
	Partners PartnerFinder

	mu    sync.Mutex
	cache map[string]coalition.PartnerID // partner ids never change for a code
}

func (a *DevAuthenticator) Authenticate(ctx context.Context) (Principal, error) {
	vals := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(vals) != 1 {
		return Principal{}, status.Error(codes.Unauthenticated, `missing credentials: send "authorization: Dev <partner-code>"`)
	}
	scheme, code, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "Dev") || code == "" {
		return Principal{}, status.Error(codes.Unauthenticated, `malformed credentials: want "Dev <partner-code>"`)
	}
	if role, ok := strings.CutPrefix(code, "role="); ok {
		role, person, _ := strings.Cut(role, " staff=")
		if person == "" {
			person = role
		}
		switch Role(role) {
		case RoleFinance, RoleOperator:
			return Principal{Role: Role(role), Person: finance.StaffID(person), PersonName: person}, nil
		}
		return Principal{}, status.Error(codes.Unauthenticated, "unknown role")
	}
	if member, ok := strings.CutPrefix(code, "member="); ok {
		id, err := coalition.ParseMemberID(member)
		if err != nil {
			return Principal{}, status.Error(codes.Unauthenticated, "malformed member id")
		}
		return Principal{Role: RoleMember, MemberID: id}, nil
	}
	a.mu.Lock()
	id, hit := a.cache[code]
	a.mu.Unlock()
	if !hit {
		var err error
		id, err = a.Partners.PartnerIDByCode(ctx, code)
		if e, ok := coalition.AsError(err); ok && e.Code == coalition.NotFound {
			return Principal{}, status.Error(codes.Unauthenticated, "unknown partner")
		}
		if err != nil {
			return Principal{}, cannotCheck("cannot check credentials now", err)
		}
		a.mu.Lock()
		if a.cache == nil {
			a.cache = map[string]coalition.PartnerID{}
		}
		a.cache[code] = id
		a.mu.Unlock()
	}
	return Principal{Role: RolePartner, PartnerID: id}, nil
}
