package rpc_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/coalition-loyalty/coalition/gateway/rpc"
	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

// TestEveryRPCAdmitsExactlyItsRoles calls every method of every service as
// each role, with an empty request, and checks that the roles the method is
// meant for get past authorization (the empty request then fails validation
// or lookup, never PermissionDenied) and every other role is refused.
func TestEveryRPCAdmitsExactlyItsRoles(t *testing.T) {
	e := newEnv(t)
	allowed := map[string][]string{
		"PartnerService":              {"partner"},
		"SettlementService/GetReport": {"finance"},
		"SettlementService":           {"finance", "partner"},
		// Finance operations: finance's, but for a partner's own payments.
		"SettlementService/ListBankAccounts":        {"finance"},
		"SettlementService/ProposeBankAccount":      {"finance"},
		"SettlementService/DecideBankAccount":       {"finance"},
		"SettlementService/MakePaymentInstructions": {"finance"},
		"SettlementService/ListPaymentInstructions": {"finance", "partner"},
		"SettlementService/CreatePaymentFile":       {"finance"},
		"SettlementService/ListPaymentFiles":        {"finance"},
		"SettlementService/ExportPaymentFile":       {"finance"},
		"SettlementService/ImportBankStatement":     {"finance"},
		"SettlementService/GetReconciliation":       {"finance"},
		"SettlementService/ResolveStatementLine":    {"finance"},
		"SettlementService/ProposeAdjustment":       {"finance"},
		"SettlementService/DecideAdjustment":        {"finance"},
		"SettlementService/ListAdjustments":         {"finance"},
		"SettlementService/GetLiability":            {"finance"},
		"MemberService":                             {"member"},
		"NetworkService":                            {"operator"},
		"AnalyticsService":                          {"operator", "partner"},
		"SegmentService":                            {"operator", "partner"},
		"OfferService":                              {"operator", "partner"},
		"AdminService":                              {"operator"},
		"AdminService/GetRules":                     {"operator", "finance"},
		"AdminService/ListRuleSets":                 {"operator", "finance"},
	}
	callers := map[string]string{"partner": "Dev cafe", "finance": "Dev role=finance", "operator": "Dev role=operator",
		"member": "Dev member=" + e.enroll("cafe").GetId()}
	eachRPC(t, func(svc protoreflect.ServiceDescriptor, m protoreflect.MethodDescriptor, path string) {
		short := string(svc.Name()) + "/" + string(m.Name())
		roles, ok := allowed[short]
		if !ok {
			roles = allowed[string(svc.Name())]
		}
		for role, cred := range callers {
			t.Run(short+" as "+role, func(t *testing.T) {
				ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", cred)
				err := invoke(ctx, e.conn, path, m)
				refused := status.Code(err) == codes.PermissionDenied && strings.Contains(status.Convert(err).Message(), "may not call")
				want := false
				for _, r := range roles {
					if r == role {
						want = true
					}
				}
				if want && refused {
					t.Fatalf("%s refused to %s: %v", path, role, err)
				}
				if !want && !refused {
					t.Fatalf("%s admitted %s: %v", path, role, err)
				}
			})
		}
	})
	// Without credentials, nothing but health and reflection.
	err := invoke(context.Background(), e.conn, "/coalition.v1.PartnerService/GetBalance",
		pb.File_coalition_v1_partner_proto.Services().Get(0).Methods().ByName("GetBalance"))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("anonymous call = %v", err)
	}
}

// TestSuspendedPartnerIsRefusedByEveryRPC suspends a partner and calls
// every method of every service with its credentials: each is refused with
// PermissionDenied (saying the partner is suspended wherever a partner may
// call at all), and nothing is written. Another partner is not affected.
func TestSuspendedPartnerIsRefusedByEveryRPC(t *testing.T) {
	e := newEnv(t)
	m := e.enroll("fuel")
	e.accrue("fuel", m, 10_000)
	if err := e.partners.SetStatus(context.Background(), "fuel", "suspended"); err != nil {
		t.Fatal(err)
	}
	before := e.written()
	eachRPC(t, func(svc protoreflect.ServiceDescriptor, m protoreflect.MethodDescriptor, path string) {
		t.Run(string(svc.Name())+"/"+string(m.Name()), func(t *testing.T) {
			err := invoke(e.as("fuel"), e.conn, path, m)
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("%s as a suspended partner = %v, want PermissionDenied", path, err)
			}
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, "may not call") && msg != "partner fuel is suspended" {
				t.Fatalf("%s as a suspended partner: %q", path, msg)
			}
		})
	})
	e.wantNothingWritten(before)
	// The suspension is the fuel chain's alone.
	if _, err := e.settle.ListWindows(e.as("cafe"), &pb.ListWindowsRequest{}); err != nil {
		t.Fatalf("an active partner's settlement read: %v", err)
	}
	// Reinstated, it trades again at once.
	if err := e.partners.SetStatus(context.Background(), "fuel", "active"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.settle.ListWindows(e.as("fuel"), &pb.ListWindowsRequest{}); err != nil {
		t.Fatalf("a reinstated partner's settlement read: %v", err)
	}
}

// invoke calls a method with an empty request of its input type.
func invoke(ctx context.Context, conn *grpc.ClientConn, path string, m protoreflect.MethodDescriptor) error {
	in := dynamicpb.NewMessage(m.Input())
	if m.IsStreamingServer() {
		s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, path)
		if err != nil {
			return err
		}
		if err := s.SendMsg(in); err != nil {
			return err
		}
		s.CloseSend()
		return s.RecvMsg(dynamicpb.NewMessage(m.Output()))
	}
	return conn.Invoke(ctx, path, in, dynamicpb.NewMessage(m.Output()))
}

// eachRPC calls fn with every method of every coalition service, and the
// method's full path, so that tests of who may call what miss none.
func eachRPC(t *testing.T, fn func(svc protoreflect.ServiceDescriptor, m protoreflect.MethodDescriptor, path string)) {
	t.Helper()
	// Every service the server registers (rpc.Services): a new one is
	// walked without a change here.
	for _, svcName := range rpc.Services {
		name := protoreflect.FullName(svcName)
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
		if err != nil {
			t.Fatal(err)
		}
		svc := d.(protoreflect.ServiceDescriptor)
		methods := svc.Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			fn(svc, m, "/"+string(name)+"/"+string(m.Name()))
		}
	}
}
