// Package rest is the REST/JSON mirror of the gRPC API: grpc-gateway
// handlers that call the gRPC server over its own listener, so every request
// passes the same authentication, roles and validation as a gRPC call, and
// errors come back as JSON with the gRPC code and field violations.
package rest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	coalitionv1 "github.com/coalition-loyalty/coalition/proto/coalition/v1"
	"github.com/coalition-loyalty/coalition/proto/openapi"
)

// RequestIDHeader carries a request's id: the client's, if it sent a sane
// one, or a new one; echoed in the response and passed to the gRPC server
// as x-request-id metadata for its logs.
const RequestIDHeader = "X-Request-Id"

// SessionCookie holds a signed-in person's session token (package
// sessions), set by the web pages. A REST request that carries it and no
// Authorization header is made as that person, so a signed-in member's or
// staff member's browser can call the API for their own role. The cookie is
// SameSite=Strict, so another site's page cannot send it.
const SessionCookie = "coalition_session"

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Services are the gRPC services mirrored in REST, by name: every one
// the server serves (its test checks the list against the server's).
var Services = map[string]func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
	coalitionv1.PartnerService_ServiceDesc.ServiceName:    coalitionv1.RegisterPartnerServiceHandler,
	coalitionv1.AdminService_ServiceDesc.ServiceName:      coalitionv1.RegisterAdminServiceHandler,
	coalitionv1.SettlementService_ServiceDesc.ServiceName: coalitionv1.RegisterSettlementServiceHandler,
	coalitionv1.MemberService_ServiceDesc.ServiceName:     coalitionv1.RegisterMemberServiceHandler,
	coalitionv1.NetworkService_ServiceDesc.ServiceName:    coalitionv1.RegisterNetworkServiceHandler,
	coalitionv1.AnalyticsService_ServiceDesc.ServiceName:  coalitionv1.RegisterAnalyticsServiceHandler,
	coalitionv1.SegmentService_ServiceDesc.ServiceName:    coalitionv1.RegisterSegmentServiceHandler,
	coalitionv1.OfferService_ServiceDesc.ServiceName:      coalitionv1.RegisterOfferServiceHandler,
}

// Handler returns the REST API under /v1/ and its OpenAPI document at
// /openapi.json, calling the gRPC server through conn.
func Handler(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	marshaler := &runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
			md := metadata.Pairs("x-request-id", r.Header.Get(RequestIDHeader))
			if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" && r.Header.Get("Authorization") == "" {
				md.Set("authorization", "Bearer "+c.Value)
			}
			return md
		}),
	)
	for name, register := range Services {
		if err := register(ctx, mux, conn); err != nil {
			return nil, fmt.Errorf("rest: %s: %w", name, err)
		}
	}
	root := http.NewServeMux()
	root.Handle("/v1/", guard(mux, marshaler))
	root.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapi.JSON)
	})
	return WithRequestID(root), nil
}

// WithRequestID gives every request an id (the client's, if sane) in the
// X-Request-Id header, echoed in the response.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !requestIDPattern.MatchString(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
			r.Header.Set(RequestIDHeader, id)
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r)
	})
}

// guard refuses, before the gRPC server is called, what only the HTTP
// side can judge.
//
// Every method under /v1/ needs credentials: a request with none (no
// Authorization header, no session cookie) is refused before its body is
// read, so that an anonymous client cannot make the server read and
// decode a body for nothing.
//
// The gRPC server sees the gateway's own loopback connection, not the
// client's, so it would take dev credentials sent from anywhere for a
// local caller's: from a client that is not on loopback, only
// "Authorization: Bearer" (an API key or a session token, which prove who
// calls wherever they come from) is passed on. A TLS-terminating proxy on
// the same machine makes every client look local: dev credentials are for
// development, never for a server behind one.
func guard(mux *runtime.ServeMux, marshaler runtime.Marshaler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(msg string) {
			// Net/http would otherwise read what is left of the body
			// to keep the connection: close it instead.
			if r.ContentLength != 0 {
				w.Header().Set("Connection", "close")
			}
			runtime.HTTPError(r.Context(), mux, marshaler, w, r, status.Error(codes.Unauthenticated, msg))
		}
		if len(r.Header.Values("Authorization")) == 0 && !hasSession(r) {
			refuse("credentials required: an API key (Authorization: Bearer ck_…) or a session")
			return
		}
		if !loopbackClient(r) {
			for _, v := range r.Header.Values("Authorization") {
				if scheme, _, _ := strings.Cut(v, " "); !strings.EqualFold(scheme, "Bearer") {
					refuse("only an API key or a session (Authorization: Bearer …) is accepted over the network; dev credentials only from loopback")
					return
				}
			}
		}
		mux.ServeHTTP(w, r)
	})
}

func hasSession(r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	return err == nil && c.Value != ""
}

// LimitBody refuses a request body larger than max bytes with 413, before
// the handler reads any of it: at once when its Content-Length says so;
// a body of unknown length (chunked) is read up to max and kept, and
// refused as soon as it runs over. A body within its Content-Length needs
// no more: the HTTP server never reads past it.
func LimitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ContentLength > max:
			tooLarge(w, max)
			return
		case r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody:
			b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			if err != nil {
				http.Error(w, "cannot read the request body", http.StatusBadRequest)
				return
			}
			if int64(len(b)) > max {
				tooLarge(w, max)
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}
		next.ServeHTTP(w, r)
	})
}

// tooLarge answers 413 as the REST errors are written (JSON with the gRPC
// code, RESOURCE_EXHAUSTED as gRPC itself says of an oversized message),
// and closes the connection rather than read the rest of the body.
func tooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	fmt.Fprintf(w, `{"code":%d,"message":"the request body is larger than %d bytes","details":[]}`+"\n", codes.ResourceExhausted, max)
}

// loopbackClient says whether the HTTP client connected from this machine.
func loopbackClient(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
