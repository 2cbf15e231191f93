package rpc_test

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/coalition-loyalty/coalition/coalition"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// portalSession stores a session of a partner's staff member signed in
// with a credential of role: the rows a sign-in writes (the harness has no
// Vault to hash a real credential with, and the session is all the server
// reads). It returns the session's token.
func (e *env) portalSession(partner coalition.PartnerID, role string) string {
	e.t.Helper()
	ctx := context.Background()
	cred, tok := uuid.New(), "cs_portal-"+uuid.NewString()
	h := sha256.Sum256([]byte(tok))
	now := e.clock.Now()
	if _, err := e.pool.Exec(ctx, `INSERT INTO api_keys (id, partner_id, role, name, hash, created_at) VALUES ($1, $2, $3, 'Ann', $4, $5)`,
		cred, partner, role, []byte(cred.String()), now); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `
		INSERT INTO web_sessions (token_hash, role, credential_id, partner_id, name, csrf_token, created_at, expires_at)
		VALUES ($1, $2, $3, $4, 'Ann', 'x', $5, $6)`, h[:], role, cred, partner, now, now.Add(time.Hour)); err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// TestEveryRPCAdmitsExactlyThePortalRolesMeantForIt calls every method of
// every service as a partner's staff member of each portal role: finance
// and admin staff may read their partner's statements and payments, admin
// and marketing staff its analytics, segments and offers, and nothing else
// (never trade as the partner).
func TestEveryRPCAdmitsExactlyThePortalRolesMeantForIt(t *testing.T) {
	e := newEnv(t)
	money := []string{"SettlementService/ListWindows", "SettlementService/GetPartnerStatement", "SettlementService/ExportReport",
		"SettlementService/DrillDown", "SettlementService/ListPaymentInstructions"}
	figures := []string{"AnalyticsService/GetAnalytics"}
	segments := []string{"SegmentService/DefineSegment", "SegmentService/ListSegments", "SegmentService/RetireSegment",
		"SegmentService/PreviewSegment", "SegmentService/GetRfmGrid"}
	offers := []string{"OfferService/CreateOffer", "OfferService/ListOffers", "OfferService/EndOffer",
		"OfferService/IssueCoupons", "OfferService/ListCoupons"}
	allowed := map[string][]string{"partner-admin": slices.Concat(money, figures, segments, offers), "partner-finance": money,
		"partner-marketing": slices.Concat(figures, segments, offers)}
	tokens := map[string]string{}
	for role := range allowed {
		tokens[role] = e.portalSession(e.cafe.ID, role)
	}
	eachRPC(t, func(svc protoreflect.ServiceDescriptor, m protoreflect.MethodDescriptor, path string) {
		short := string(svc.Name()) + "/" + string(m.Name())
		for role, methods := range allowed {
			t.Run(short+" as "+role, func(t *testing.T) {
				ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tokens[role])
				err := invoke(ctx, e.conn, path, m)
				refused := status.Code(err) == codes.PermissionDenied && strings.Contains(status.Convert(err).Message(), "may not call")
				want := slices.Contains(methods, short)
				if want && refused {
					t.Fatalf("%s refused to %s: %v", path, role, err)
				}
				if !want && !refused {
					t.Fatalf("%s admitted %s: %v", path, role, err)
				}
			})
		}
	})
}

// TestPartnerStaffActAsTheirOwnPartnerOnly: a café's finance staff reads
// the café's payments, and is refused the cinema's statement and payments.
func TestPartnerStaffActAsTheirOwnPartnerOnly(t *testing.T) {
	e := newEnv(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e.portalSession(e.cafe.ID, "partner-finance"))
	_, err := e.settle.ListPaymentInstructions(ctx, &pb.ListPaymentInstructionsRequest{Party: "cinema"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the cinema's payments as the café's staff: %v", err)
	}
	_, err = e.settle.GetPartnerStatement(ctx, &pb.GetPartnerStatementRequest{BusinessDate: "2026-01-01", Partner: "cinema"})
	if c := status.Code(err); c != codes.PermissionDenied && c != codes.NotFound && c != codes.FailedPrecondition {
		t.Fatalf("the cinema's statement as the café's staff: %v", err)
	}
	// Suspended, the café's staff are refused as the café is.
	if err := e.partners.SetStatus(context.Background(), "cafe", "suspended"); err != nil {
		t.Fatal(err)
	}
	_, err = e.settle.ListWindows(ctx, &pb.ListWindowsRequest{})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "suspended") {
		t.Fatalf("a suspended partner's staff: %v", err)
	}
}
