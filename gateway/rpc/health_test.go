package rpc_test

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	pb "github.com/coalition-loyalty/coalition/proto/coalition/v1"
)

const partnerService = "coalition.v1.PartnerService"

func TestHealthReportsThePartnerServiceServingWithoutCredentials(t *testing.T) {
	e := newEnv(t)
	health := healthpb.NewHealthClient(e.conn)
	for _, service := range []string{partnerService, ""} {
		res, err := health.Check(e.anonymous(), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("check %q: %v", service, err)
		}
		if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%q is %s, want SERVING", service, res.GetStatus())
		}
	}
	_, err := health.Check(e.anonymous(), &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	wantStatus(t, err, codes.NotFound, "")
}

func TestReflectionListsAndDescribesThePartnerServiceWithoutCredentials(t *testing.T) {
	e := newEnv(t)
	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(e.anonymous())
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		res, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if er := res.GetErrorResponse(); er != nil {
			t.Fatalf("reflection error %d: %s", er.GetErrorCode(), er.GetErrorMessage())
		}
		return res
	}

	list := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	var services []string
	for _, s := range list.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	if !slices.Contains(services, partnerService) {
		t.Fatalf("services = %q, want %s among them", services, partnerService)
	}

	// A tool such as grpcurl then fetches the service's file to build requests.
	files := ask(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: partnerService},
	}).GetFileDescriptorResponse().GetFileDescriptorProto()
	var methods []string
	for _, raw := range files {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, fd); err != nil {
			t.Fatal(err)
		}
		for _, s := range fd.GetService() {
			if fd.GetPackage()+"."+s.GetName() == partnerService {
				for _, m := range s.GetMethod() {
					methods = append(methods, m.GetName())
				}
			}
		}
	}
	want := pb.File_coalition_v1_partner_proto.Services().ByName("PartnerService").Methods().Len()
	if len(methods) != want || !slices.Contains(methods, "Accrue") {
		t.Fatalf("reflected methods = %q, want the %d of the proto", methods, want)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
}
