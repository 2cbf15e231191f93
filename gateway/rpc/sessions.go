package rpc

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/coalition-loyalty/coalition/coalition"
	"github.com/coalition-loyalty/coalition/coalition/sessions"
)

// SessionChecker checks a session token (package sessions).
type SessionChecker interface {
	Check(ctx context.Context, token string) (sessions.Session, error)
}

// SessionAuth identifies people signed in on the web pages — members,
// finance and operator staff, and partners' staff in the portal — by their session token, sent as
// "authorization: Bearer cs_…" (the pages and the REST gateway send the
// session cookie so). Any other caller is left to Next.
type SessionAuth struct {
	Sessions SessionChecker
	Next     Authenticator
}

func (a SessionAuth) Authenticate(ctx context.Context) (Principal, error) {
	if vals := metadata.ValueFromIncomingContext(ctx, "authorization"); len(vals) == 1 {
		if tok, ok := strings.CutPrefix(vals[0], "Bearer "+sessions.TokenPrefix); ok {
			s, err := a.Sessions.Check(ctx, sessions.TokenPrefix+tok)
			if errors.Is(err, sessions.ErrNoSession) {
				return Principal{}, status.Error(codes.Unauthenticated, "session expired or signed out: sign in again")
			}
			if err != nil {
				return Principal{}, cannotCheck("cannot check the session now", err)
			}
			if s.CredentialID != uuid.Nil {
				// Signed in with a staff credential: its person, or its
				// partner and portal role.
				var partner *coalition.PartnerID
				if s.PartnerID != (coalition.PartnerID{}) {
					partner = &s.PartnerID
				}
				return staffPrincipal(s.Role, partner, s.Name), nil
			}
			return Principal{Role: Role(s.Role), MemberID: s.MemberID}, nil
		}
	}
	if a.Next == nil {
		return Principal{}, status.Error(codes.Unauthenticated, "credentials required")
	}
	return a.Next.Authenticate(ctx)
}
